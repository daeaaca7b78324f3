"""Chaos on a seeded schedule: a graceful stop and restart of a node, a SIGKILL and restart, a
restart of Postgres; each printed (and marked on the dashboard) as it happens."""

import os
import random
import subprocess
import threading
import time

from . import cluster

KINDS = ("stop", "kill", "postgres")


def schedule(seed, duration, node_names, with_postgres):
    """[(seconds after the start, kind, target)] for a run of `duration` seconds (0: until Ctrl-C,
    planned for an hour). Rounds of the kinds in a seeded order, one about every `gap` seconds
    (a quarter of the run, 5 to 15 s), so that even a 20-second run sees each kind once; none
    starts in the last 4 s. The target is a node name or "leader" (whoever leads then)."""
    rng = random.Random(f"met-simulate-chaos-{seed}")
    kinds = [k for k in KINDS if with_postgres or k != "postgres"]
    horizon = duration if duration else 3600
    gap = min(15.0, max(5.0, horizon / 4))
    plan, t = [], gap * rng.uniform(0.6, 0.9)
    while True:
        order = kinds[:]
        rng.shuffle(order)
        for kind in order:
            if t > horizon - 4:
                return plan
            target = None if kind == "postgres" else rng.choice(["leader"] + list(node_names))
            plan.append((round(t, 1), kind, target))
            t += gap * rng.uniform(0.8, 1.2)


class PostgresControl:
    """pg_ctl on the simulation's own throwaway Postgres (as the postgres user when run as root:
    the server refuses root). pg_ctl runs in a session of its own, so the terminal's Ctrl-C
    never reaches the server it starts."""

    def __init__(self, pg_bin, data, logfile):
        self.pg_bin, self.data, self.logfile = pg_bin, data, logfile

    def _ctl(self, *args):
        argv = [os.path.join(self.pg_bin, "pg_ctl"), "-D", self.data, *args]
        if os.getuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        # Never a pipe: the server pg_ctl starts would hold it open, and we would wait forever.
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True).returncode

    def stop(self):
        return self._ctl("-m", "fast", "-w", "-t", "60", "stop")

    def start(self):
        return self._ctl("-l", self.logfile, "-w", "-t", "60", "start")


class Chaos(threading.Thread):
    """Runs the plan, one action at a time (an action ends when its node is ready again or
    Postgres accepts connections), until the plan ends or the run stops; an action under way
    when the run stops is finished first, so the drain starts with every node up."""

    def __init__(self, sim, plan):
        super().__init__(name="chaos", daemon=True)
        self.sim = sim
        self.plan = plan
        self.stopping = threading.Event()
        self.kills = []  # (elapsed, node name, allowance): what each SIGKILL may lose
        self.done = []  # actions done: (elapsed, kind, node name or None)
        self.next = None

    def stop(self):
        self.stopping.set()
        self.join()

    def run(self):
        events = self.sim.events
        for at, kind, target in self.plan:
            self.next = (at, kind, target)
            while events.elapsed() < at:
                if self.stopping.wait(min(0.2, at - events.elapsed())):
                    self.next = None
                    return
            if self.stopping.is_set():
                break
            self.next = None
            if kind == "postgres":
                self.restart_postgres()
            else:
                node = self.resolve(target)
                if node is None:
                    events.note(f"chaos: skipped {kind} (no node to act on)")
                    continue
                self.stop_node(node) if kind == "stop" else self.kill_node(node)
        self.next = None

    def resolve(self, target):
        nodes = [n for n in self.sim.nodes if n.running()]
        if target == "leader":
            leader = self.sim.leader()
            return next((n for n in nodes if n.name == leader), nodes[0] if nodes else None)
        return next((n for n in nodes if n.name == target), None)

    def pause(self, seconds):
        # Not cut short by the end of the run: the node or Postgres comes back either way.
        time.sleep(seconds)

    def restart(self, node, down_since):
        self.pause(2.5)
        if self.sim.aborted:
            return  # stopping at once: the node stays down
        node.start()
        self.sim.events.note(f"chaos: {node.name} started again (pid {node.pid}) after {time.monotonic() - down_since:.1f} s down")
        if cluster.wait_until(lambda: node.ready() or not node.running(), 60, 0.25) and node.running():
            self.sim.events.note(f"chaos: {node.name} is ready (caught up from a peer)")
        else:
            self.sim.events.note(f"chaos: {node.name} did not become ready within 60 s; see {node.log_path}")

    def stop_node(self, node):
        ev = self.sim.events
        leader = " (the leader)" if node.name == self.sim.leader() else ""
        ev.note(f"chaos: SIGTERM {node.name}{leader}: a graceful stop; it finishes its jobs and hands its store off", marker=True)
        t0 = time.monotonic()
        code = node.stop(timeout=60)
        self.done.append((ev.elapsed(), "stop", node.name))
        ev.note(f"chaos: {node.name} exited {code} after {time.monotonic() - t0:.1f} s")
        self.restart(node, t0)

    def kill_node(self, node):
        ev = self.sim.events
        peak = self.sim.peak_rate()
        leader = node.name == self.sim.leader()
        ev.note(f"chaos: SIGKILL {node.name}{' (the leader)' if leader else ''}: what it recorded since its last broadcast is lost; "
                "its running jobs are orphaned", marker=True)
        t0 = time.monotonic()
        node.kill()
        # Its last interval: from the end of the second its last batch (as the survivors have it) covers.
        age = self.sim.last_batch_age(node)
        allowance = self.sim.loss_allowance(node, peak, age)
        self.kills.append((ev.elapsed(), node.name, allowance))
        self.done.append((ev.elapsed(), "kill", node.name))
        ev.note(f"chaos: {node.name}'s last batch the others have ended {age} s before the kill; it may lose at most {allowance} executions")
        self.restart(node, t0)

    def restart_postgres(self):
        ev = self.sim.events
        pg = self.sim.postgres
        ev.note("chaos: restarting postgres (pg_ctl stop -m fast; 3 s down)", marker=True)
        t0 = time.monotonic()
        code = pg.stop()
        if code != 0:
            ev.note(f"chaos: pg_ctl stop exited {code}")
        self.pause(3)
        if self.sim.aborted:
            return  # stopping at once: scripts/simulate stops Postgres anyway
        code = pg.start()
        self.done.append((ev.elapsed(), "postgres", None))
        ev.note(f"chaos: postgres {'up again' if code == 0 else f'did not start (pg_ctl {code})'} after {time.monotonic() - t0:.1f} s")
        self.sim.events.mark("chaos: postgres back")
