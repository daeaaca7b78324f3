"""The simulation's workload: the job mix of cluster-configs/local/simulation.json, an inserter
that keeps the workers busy with it, and a rescuer of orphaned jobs (Oban's Lifeline)."""

import json
import math
import threading
import time

from . import cluster
from .pg import Connection, PGError

PROFILE_KEYS = ("ms", "sigma", "max_ms", "retry", "discard", "snooze", "cancel")


class Mix:
    """Queues with their limits, workers with their shares, run times and endings, bursts."""

    def __init__(self, path):
        with open(path) as f:
            spec = json.load(f)
        self.queues = dict(spec["queues"])
        self.workers = spec["workers"]
        for w in self.workers:
            if w["queue"] not in self.queues:
                raise ValueError(f"{path}: worker {w['worker']} uses queue {w['queue']}, which is not in \"queues\"")
        sched = spec.get("scheduled", {})
        self.scheduled_share = float(sched.get("share", 0))
        self.scheduled_delay = tuple(sched.get("delay", [3, 15]))
        self.bursts = spec.get("bursts")
        self.weights = [float(w["share"]) for w in self.workers]

    def queue_flag(self):
        return ",".join(f"{q}:{limit}" for q, limit in self.queues.items())

    def worker(self, name):
        return next(w for w in self.workers if w["worker"] == name)

    def job(self, w, rng, n, scheduled=None):
        """One row of the insert: its args carry the worker's run-time profile (met worker runs by it)."""
        if scheduled is None:
            scheduled = rng.random() < float(w.get("scheduled", self.scheduled_share))
        delay = rng.uniform(*self.scheduled_delay) if scheduled else 0.0
        profile = {k: w[k] for k in PROFILE_KEYS if k in w}
        attempts = int(w.get("max_attempts", 20))
        return {"state": "scheduled" if scheduled else "available", "queue": w["queue"], "worker": w["worker"],
                "args": {"n": n, "simulate": profile}, "meta": {"max_attempts": attempts},
                "max_attempts": attempts, "delay": delay}


class Inserter(threading.Thread):
    """Inserts jobs of the mix at about `rate` a second (a slow swell of ±30 % so the charts
    move), a burst now and then, and tells a live node how many it inserted (`inserted`, without
    a state: the leader finds new jobs in Postgres itself)."""

    TICK = 0.25

    def __init__(self, url, prefix, mix, rate, rng, live_http, events):
        super().__init__(name="inserter", daemon=True)
        self.conn = Connection(url, "met-simulate-inserter")
        self.prefix = prefix
        self.mix = mix
        self.rate = rate
        self.rng = rng
        self.live_http = live_http
        self.events = events
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.inserted = 0
        self.skipped = 0
        self.recent = []  # (monotonic time, jobs) of the last seconds
        self.pending = {}  # (queue, worker) -> jobs not yet reported to a node
        self.postgres_down_since = None
        self.n = 0
        self.batch = 0
        self.unsure = {}  # batch number -> jobs, of statements that failed: did they commit?
        self.sql = f"""
            INSERT INTO {prefix}.oban_jobs (state, queue, worker, args, meta, max_attempts, scheduled_at)
            SELECT r.state::{prefix}.oban_job_state, r.queue, r.worker, r.args, r.meta, r.max_attempts,
                   timezone('UTC', now()) + r.delay * interval '1 second'
            FROM jsonb_to_recordset($1::jsonb)
              AS r(state text, queue text, worker text, args jsonb, meta jsonb, max_attempts int, delay float8)"""

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)
        deadline = time.monotonic() + 30
        while self.unsure and time.monotonic() < deadline:
            try:
                self.resolve()
            except PGError:
                time.sleep(0.5)
        self.report()
        self.conn.close()

    def per_second(self):
        with self.lock:
            now = time.monotonic()
            return sum(n for t, n in self.recent if now - t <= 5) / 5

    def run(self):
        start = time.monotonic()
        due = 0.0
        bursts = self.mix.bursts
        next_burst = start + self.rng.uniform(*bursts["every"]) if bursts else None
        last_report = start
        while not self.stopping.wait(self.TICK):
            now = time.monotonic()
            swell = 1 + 0.3 * math.sin(2 * math.pi * (now - start) / 60)
            due += self.rate * swell * self.TICK
            count, due = int(due), due - int(due)
            jobs = []
            for w in self.rng.choices(self.mix.workers, weights=self.mix.weights, k=count):
                self.n += 1
                jobs.append(self.mix.job(w, self.rng, self.n))
            if next_burst is not None and now >= next_burst:
                w = self.mix.worker(bursts["worker"])
                size = self.rng.randint(*bursts["jobs"])
                for _ in range(size):
                    self.n += 1
                    jobs.append(self.mix.job(w, self.rng, self.n, scheduled=False))
                next_burst = now + self.rng.uniform(*bursts["every"])
                self.events.note(f"burst: {size} {w['worker']} jobs inserted at once", marker=True)
            if jobs:
                self.insert(jobs)
            if now - last_report >= 1:
                last_report = now
                self.report()

    def insert(self, jobs):
        """One statement for the tick's jobs, tagged with a batch number in their meta: a batch
        whose answer was lost (Postgres went away as it committed) is looked up once Postgres is
        back, so the count of inserted jobs stays exact."""
        self.batch += 1
        for j in jobs:
            j["meta"]["batch"] = self.batch
        try:
            self.resolve()
            self.conn.query(self.sql, [json.dumps(jobs)])
        except PGError as e:
            with self.lock:
                self.skipped += len(jobs)
            self.unsure[self.batch] = len(jobs)
            if self.postgres_down_since is None:
                self.postgres_down_since = time.monotonic()
                self.events.note(f"inserter: postgres unreachable ({first_line(e)}); inserting paused")
            return
        if self.postgres_down_since is not None:
            self.events.note(f"inserter: postgres reachable again after {time.monotonic() - self.postgres_down_since:.0f} s")
            self.postgres_down_since = None
        with self.lock:
            self.inserted += len(jobs)
            self.recent.append((time.monotonic(), len(jobs)))
            self.recent = [(t, n) for t, n in self.recent if time.monotonic() - t <= 6]
            for j in jobs:
                key = (j["queue"], j["worker"])
                self.pending[key] = self.pending.get(key, 0) + 1

    def resolve(self):
        """Counts the failed batches that committed all the same; raises PGError while Postgres is away."""
        for batch, size in list(self.unsure.items()):
            landed = self.conn.query(f"SELECT count(*) FROM {self.prefix}.oban_jobs WHERE meta @> $1::jsonb",
                                     [json.dumps({"batch": batch})])
            if int(landed[0][0]) == size:
                with self.lock:
                    self.inserted += size
                    self.skipped -= size
            del self.unsure[batch]

    def report(self):
        """`inserted` events to a live node (for the dashboard's charts; nothing is checked against them)."""
        with self.lock:
            pending, self.pending = self.pending, {}
        if not pending:
            return
        lines = "\n".join(json.dumps({"event": "inserted", "queue": q, "worker": w, "count": n})
                          for (q, w), n in sorted(pending.items()))
        addr = self.live_http()
        try:
            if addr is None:
                raise OSError("no node running")
            cluster.request(addr, "/api/events", lines, content_type="application/x-ndjson")
        except (OSError, cluster.HTTPError):
            pass  # only a chart's count; the table is what the summary checks


def first_line(error):
    return str(error).splitlines()[0] if str(error) else type(error).__name__


class Rescuer:
    """Oban's Lifeline for the simulation: a job left `executing` by a process that can no longer
    end it (a SIGKILLed node, a claim whose answer Postgres lost as it restarted) goes back to
    `available` (`discarded` when it has no attempt left) with `meta.rescued` counting it, so the
    summary can account for every attempt. A job is an orphan when it has been executing for
    more than `grace` seconds and no fresh queue check (`/api/checks`) of any node lists it as
    running."""

    def __init__(self, url, prefix, grace=5, freshness=5):
        self.conn = Connection(url, "met-simulate-rescuer")
        self.rescued = 0
        self.sql = f"""
            WITH orphans AS (
              SELECT id FROM {prefix}.oban_jobs
              WHERE state = 'executing' AND attempted_at < timezone('UTC', now()) - $2::int * interval '1 second'
                AND NOT (id = ANY($1::bigint[]))
              FOR UPDATE SKIP LOCKED)
            UPDATE {prefix}.oban_jobs j SET
              state = (CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'available' END)::{prefix}.oban_job_state,
              discarded_at = CASE WHEN j.attempt >= j.max_attempts THEN timezone('UTC', now()) ELSE j.discarded_at END,
              meta = coalesce(j.meta, '{{}}') || jsonb_build_object('rescued', coalesce((j.meta ->> 'rescued')::int, 0) + 1)
            FROM orphans WHERE j.id = orphans.id
            RETURNING j.id, j.queue, j.state::text"""
        self.grace = grace
        self.freshness = freshness

    def running_ids(self, nodes):
        """Job ids that fresh checks of any node list as running; None when no node answered."""
        ids, answered = set(), False
        now = time.time()
        for node in nodes:
            if not node.running():
                continue
            try:
                checks = cluster.get(node.http, "/api/checks", timeout=1.0)
            except (OSError, cluster.HTTPError, ValueError):
                continue
            answered = True
            for c in checks:
                if now - c.get("timestamp", 0) <= self.freshness:
                    ids.update(c.get("running", []))
        return ids if answered else None

    def rescue(self, nodes, live_http):
        """Rescues the orphans now; [(id, queue, new state)]."""
        ids = self.running_ids(nodes)
        if ids is None:
            return []
        try:
            rows = self.conn.query(self.sql, ["{" + ",".join(str(i) for i in sorted(ids)) + "}", self.grace])
        except PGError:
            return []
        if rows:
            self.rescued += len(rows)
            per_queue = {}
            for _, q, _ in rows:
                per_queue[q] = per_queue.get(q, 0) + 1
            addr = live_http()
            if addr:
                lines = "\n".join(json.dumps({"event": "rescued", "queue": q, "count": n}) for q, n in per_queue.items())
                try:
                    cluster.request(addr, "/api/events", lines, content_type="application/x-ndjson")
                except (OSError, cluster.HTTPError):
                    pass
        return rows
