"""scripts/simulate's run: nodes, workload, chaos, the live view, and the checked ending.
scripts/simulate installs, builds and starts Postgres, then runs `python3 -m simulation`."""

import argparse
import os
import random
import signal
import subprocess
import sys
import time

from . import check, summary
from .chaos import Chaos, PostgresControl, schedule
from .cluster import HTTPError, Node, get, port_free, wait_until
from .events import Events, clock, say
from .pg import Connection
from .poster import Poster
from .view import View
from .workload import Inserter, Mix, Rescuer


def parse(argv):
    p = argparse.ArgumentParser(prog="scripts/simulate", description=(
        "Runs a local ObanMet cluster working real jobs through Postgres, with a live view; Ctrl-C "
        "(or --duration) stops inserting, drains the queues and checks the cluster against Postgres."))
    p.add_argument("--nodes", type=int, default=3, help="nodes to run (default 3)")
    p.add_argument("--rate", type=float, default=40, help="jobs inserted per second, on average (default 40)")
    p.add_argument("--duration", type=float, default=0, help="seconds to run, then stop and check (default: until Ctrl-C)")
    p.add_argument("--chaos", action="store_true", help="stop, SIGKILL and restart nodes and restart Postgres on a seeded schedule")
    p.add_argument("--seed", type=int, default=None, help="seed of the workload and the chaos schedule (default: random, printed)")
    p.add_argument("--no-postgres", action="store_true", help="no database: `met node`s fed job events over HTTP")
    p.add_argument("--release", action="store_true", help="build and run the release build")
    p.add_argument("--http-port", type=int, default=4001, help="HTTP port of the first node; node i gets PORT+i-1 (default 4001)")
    p.add_argument("--mesh-port", type=int, default=7401, help="mesh port of the first node (default 7401)")
    p.add_argument("--mix", default=None, help="the job mix (default cluster-configs/local/simulation.json)")
    p.add_argument("--parse-only", action="store_true", help=argparse.SUPPRESS)  # scripts/simulate: check before building
    args = p.parse_args(argv)
    if not 1 <= args.nodes <= 32:
        p.error("--nodes must be between 1 and 32")
    if args.rate <= 0 or args.duration < 0:
        p.error("--rate must be positive and --duration at least 0")
    return args


class Simulation:
    def __init__(self, args):
        self.args = args
        self.root = os.environ["MET_SIM_ROOT"]
        self.met = os.environ["MET_BINARY"]
        self.logs = os.environ["MET_SIM_LOGS"]
        self.with_postgres = not args.no_postgres
        self.url = os.environ.get("DATABASE_URL") if self.with_postgres else None
        self.prefix = os.environ.get("MET_SIM_PREFIX", "public")
        self.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
        self.mix = Mix(args.mix or os.path.join(self.root, "cluster-configs/local/simulation.json"))
        pg_data = os.environ.get("MET_SIM_PG_DATA")
        self.postgres = PostgresControl(os.environ["MET_SIM_PG_BIN"], pg_data, os.environ["MET_SIM_PG_LOG"]) if pg_data else None
        self.started = time.monotonic()
        self.since = int(time.time()) - 5
        self.stop_requested = False
        self.aborted = False
        self.events = Events(self.started, self.live_http, plain=not sys.stdout.isatty())
        self.nodes = self.make_nodes()
        self.view = View(self)
        self.chaos = None
        self.inserter = self.poster = self.rescuer = None
        self.conn = Connection(self.url, "met-simulate-check") if self.url else None

    def make_nodes(self):
        n = self.args.nodes
        meshes = [f"127.0.0.1:{self.args.mesh_port + i}" for i in range(n)]
        env = dict(os.environ)
        if not self.with_postgres:
            env.pop("DATABASE_URL", None)
        nodes = []
        for i in range(n):
            name = f"node{i + 1}"
            config = os.path.join(self.root, "cluster-configs/local", f"{name}.json")
            if not os.path.exists(config):
                config = os.path.join(self.root, "cluster-configs/local/node1.json")  # its name and ports are flags below
            http = f"127.0.0.1:{self.args.http_port + i}"
            argv = [self.met, "worker" if self.with_postgres else "node", "--config", config, "--node", name,
                    "--listen", meshes[i], "--http", http] + [a for m in meshes for a in ("--seed", m)]
            if self.with_postgres:
                argv += ["--queues", self.mix.queue_flag(), "--prefix", self.prefix]
            nodes.append(Node(i, name, meshes[i], http, argv, os.path.join(self.logs, f"{name}.log"), env))
        return nodes

    def live_http(self):
        """The HTTP address of a running node (the first), or None."""
        return next((n.http for n in self.nodes if n.running() and n.state == "running"), None)

    def leader(self):
        r = self.view.last
        seen = (r.clusters.get(r.source) or {}) if r else {}
        return (seen.get("leadership") or {}).get("leader")

    def inserted_per_second(self):
        return self.inserter.per_second() if self.inserter else 0.0

    def peak_rate(self):
        """The most executions one node made in one second over the last 10 s, as the cluster
        holds them, of any node: every node runs the same queues, and a
        node just restarted has too short a history of its own (it may be claiming the backlog
        its stop left: a second busier than any it has shown yet)."""
        for other in [n for n in self.nodes if n.running()]:
            try:
                rows = get(other.http, "/api/timeslice/exec_count", timeout=1.5, by=1, lookback=12, group="node")
                return max([r["value"] or 0 for r in rows] + [0])
            except (OSError, HTTPError, ValueError, KeyError):
                continue
        return 0

    def last_batch_age(self, node):
        """Seconds from the end of the second covered by the last batch of `node` that a survivor
        holds, to now (the smallest any survivor reports: anti-entropy gives it to the others;
        2 when none can say)."""
        ages = []
        for other in [n for n in self.nodes if n.running() and n is not node]:
            try:
                for m in get(other.http, "/api/cluster", timeout=1.5)["members"]:
                    if m["name"] == node.name and m.get("lastBatchAge") is not None:
                        ages.append(m["lastBatchAge"])
            except (OSError, HTTPError, ValueError, KeyError):
                continue
        return min(ages) if ages else 2

    def loss_allowance(self, node, peak, age):
        """What a SIGKILL of `node` may take with it: its last interval, the `age` seconds since its
        last batch the others hold, and one more second: what was posted to it then (--no-postgres),
        or its peak rate over that time; + 3."""
        window = age + 1
        if not self.with_postgres:
            return self.poster.posted_since(node.name, window + 0.5) + 3
        return int(peak * window + 3)

    # --- phases ----------------------------------------------------------------------------------

    def prepare_database(self):
        """`met schema` (Oban's schema and ObanMet's objects); in someone else's database, in a schema
        of the simulation's own, dropped first so every run starts from no jobs."""
        if self.prefix != "public":
            self.conn.query("SET client_min_messages TO warning")
            self.conn.query(f"DROP SCHEMA IF EXISTS {self.prefix} CASCADE")
        run = subprocess.run([self.met, "schema", "--database", self.url, "--prefix", self.prefix],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            raise SystemExit(f"simulate: met schema failed:\n{run.stdout}")
        say(f"met schema: {run.stdout.strip().splitlines()[-1]}")

    def start_nodes(self):
        taken = [a for n in self.nodes for a in (n.mesh, n.http) if not port_free(a)]
        if taken:
            raise SystemExit(f"simulate: {', '.join(taken)} already in use (another simulation?); "
                             "choose other ports with --http-port and --mesh-port")
        say(f"starting {len(self.nodes)} {'workers' if self.with_postgres else 'nodes'}; logs in {self.logs}")
        for node in self.nodes:
            node.start()
        names = {n.name for n in self.nodes}

        def meshed():
            for node in self.nodes:
                if not node.running():
                    raise SystemExit(f"simulate: {node.name} exited at start; its log ({node.log_path}) ends:\n  "
                                     + "\n  ".join(node.log_tail()))
            try:
                for node in self.nodes:
                    c = get(node.http, "/api/cluster", timeout=1)
                    alive = {m["name"] for m in c["members"] if m["status"] in ("self", "alive")}
                    if not c.get("ready") or not names <= alive:
                        return False
                return True
            except Exception:  # noqa: BLE001 - not up yet
                return False

        if not wait_until(meshed, 120, 0.25):
            raise SystemExit(f"simulate: the nodes did not form a cluster within 120 s; logs in {self.logs}")
        for node in self.nodes:
            say(f"{node.name}: dashboard http://{node.http}/  (pid {node.pid})")

    def on_signal(self, signum, _frame):
        if self.aborted:
            return  # already stopping at once
        if signum == signal.SIGINT and not self.stop_requested:
            self.stop_requested = True
            self.events.note("Ctrl-C: stopping the inserter, then draining and checking (Ctrl-C again: stop at once, no check)")
        else:
            self.aborted = True
            raise KeyboardInterrupt

    def run(self):
        rng = random.Random(self.seed)
        if self.with_postgres:
            self.prepare_database()
        self.start_nodes()
        self.events.note(f"cluster up: {len(self.nodes)} nodes; seed {self.seed}")
        if self.with_postgres:
            self.rescuer = Rescuer(self.url, self.prefix)
            self.inserter = Inserter(self.url, self.prefix, self.mix, self.args.rate, rng, self.live_http, self.events)
            self.inserter.start()
        else:
            self.poster = Poster(self.nodes, self.mix, self.args.rate, rng, self.events)
            self.poster.start()
        if self.args.chaos:
            plan = schedule(self.seed, self.args.duration, [n.name for n in self.nodes], self.postgres is not None)
            if self.with_postgres and self.postgres is None:
                self.events.note("chaos: Postgres is not this script's own (DATABASE_URL given): it is not restarted")
            self.chaos = Chaos(self, plan)
            self.chaos.start()
        last_rescue = 0.0
        while not self.stop_requested and not (self.args.duration and self.events.elapsed() >= self.args.duration):
            tick = time.monotonic()
            self.view.refresh()
            if self.rescuer and tick - last_rescue >= 2:
                last_rescue = tick
                for _, q, state in self.rescuer.rescue(self.nodes, self.live_http):
                    self.events.note(f"rescued an orphaned {q} job → {state}")
            time.sleep(max(0.0, 1 - (time.monotonic() - tick)))
        return self.finish()

    def finish(self):
        self.events.note("stopping: no more jobs inserted; draining the queues")
        (self.inserter or self.poster).stop()
        if self.chaos:
            self.chaos.stopping.set()
            while self.chaos.is_alive():
                self.view.refresh("finishing the chaos action under way")
                self.chaos.join(timeout=1)
        if self.with_postgres:
            if not check.Drain(self, self.conn).run():
                result = summary.Result()
                result.line("the queues did not drain within 120 s", False)
            else:
                result = summary.with_postgres(self, self.conn)
        else:
            result = summary.without_postgres(self)
        self.view.refresh("done: summary below")
        self.view.leave()
        print()
        print(f"summary after {clock(self.events.elapsed())} (seed {self.seed})")
        if self.chaos:
            done = ", ".join({"stop": "SIGTERM", "kill": "SIGKILL"}.get(k, "restart") + f" {n or 'postgres'}" for _, k, n in self.chaos.done)
            print(f"  chaos: {done or 'none happened'}")
        for line in result.lines:
            print(line)
        print(f"simulate: {'all checks passed' if result.ok else 'CHECK FAILED; logs in ' + self.logs}", flush=True)
        return 0 if result.ok else 1

    def stop_nodes(self):
        """SIGTERM to every node at once (a mass stop: each writes its store to Postgres), then wait."""
        for node in self.nodes:
            node.terminate()
        deadline = time.monotonic() + 60
        for node in self.nodes:
            if node.wait(max(0.1, deadline - time.monotonic())) is None:
                say(f"{node.name} did not stop within 60 s; SIGKILL")
                node.kill()


def main(argv):
    args = parse(argv)
    if args.parse_only:
        return 0
    sim = Simulation(args)
    signal.signal(signal.SIGINT, sim.on_signal)
    signal.signal(signal.SIGTERM, sim.on_signal)
    signal.signal(signal.SIGHUP, sim.on_signal)
    code = 1
    try:
        code = sim.run()
    except KeyboardInterrupt:
        say("stopped at once; nothing was checked")
        code = 130
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # the nodes are stopped whatever comes next
        if sim.chaos:
            sim.chaos.stopping.set()
            sim.chaos.join(timeout=90)  # an action under way ends; with aborted set it restarts nothing
        for worker in (sim.inserter, sim.poster):
            if worker:
                worker.stopping.set()
        say("stopping the nodes")
        sim.stop_nodes()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
