"""--no-postgres: job events posted over HTTP to the nodes (`POST /api/events`), as a worker in
another language would, with the mix's run times and endings; it keeps what every node accepted."""

import json
import math
import threading
import time

from . import cluster

ENDINGS = [("discard", "discarded"), ("retry", "retryable"), ("snooze", "scheduled"), ("cancel", "cancelled")]


class Poster(threading.Thread):
    TICK = 0.25

    def __init__(self, nodes, mix, rate, rng, events):
        super().__init__(name="poster", daemon=True)
        self.nodes, self.mix, self.rate, self.rng, self.events = nodes, mix, rate, rng, events
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.accepted = {}  # queue -> {state: n}, what nodes answered 200 for
        self.by_node = {}  # node name -> executions it accepted
        self.log = []  # (monotonic time, node name, executions)
        self.inserted = 0

    def stop(self):
        self.stopping.set()
        self.join(timeout=10)

    def totals(self):
        with self.lock:
            return {q: dict(c) for q, c in self.accepted.items()}

    def posted_since(self, name, seconds):
        now = time.monotonic()
        with self.lock:
            return sum(n for t, who, n in self.log if who == name and now - t <= seconds)

    def per_second(self):
        now = time.monotonic()
        with self.lock:
            return sum(n for t, _, n in self.log if now - t <= 5) / 5

    def ending(self, w):
        roll = self.rng.random()
        for key, state in ENDINGS:
            rate = float(w.get(key, 0))
            if roll < rate:
                return state
            roll -= rate
        return "completed"

    def run(self):
        due, turn = 0.0, 0
        while not self.stopping.wait(self.TICK):
            due += self.rate * self.TICK
            count, due = int(due), due - int(due)
            running = [n for n in self.nodes if n.running()]
            if not running or count == 0:
                continue
            per_node = {}
            for w in self.rng.choices(self.mix.workers, weights=self.mix.weights, k=count):
                node = running[turn % len(running)]
                turn += 1
                ms = min(w.get("ms", 20) * math.exp(w.get("sigma", 0.5) * self.rng.gauss(0, 1)), w.get("max_ms", 20 * w.get("ms", 20)))
                per_node.setdefault(node, []).append((w, self.ending(w), int(ms * 1e6)))
            for node, jobs in per_node.items():
                lines = []
                for w, state, ns in jobs:
                    base = {"queue": w["queue"], "worker": w["worker"]}
                    lines.append(json.dumps({"event": "inserted", **base}))
                    lines.append(json.dumps({"event": "job_start", **base}))
                    lines.append(json.dumps({"event": "job_stop" if state == "completed" else "job_exception", **base,
                                             "state": state, "exec_ns": ns, "wait_ns": self.rng.randint(0, 50_000_000)}))
                try:
                    cluster.request(node.http, "/api/events", "\n".join(lines), timeout=2, content_type="application/x-ndjson")
                except (OSError, cluster.HTTPError):
                    continue  # not accepted: not counted (a node being stopped or killed)
                with self.lock:
                    self.log.append((time.monotonic(), node.name, len(jobs)))
                    self.log = [e for e in self.log if time.monotonic() - e[0] <= 10]
                    for w, state, _ in jobs:
                        q = self.accepted.setdefault(w["queue"], {})
                        q[state] = q.get(state, 0) + 1
                    self.inserted += len(jobs)
                    self.by_node[node.name] = self.by_node.get(node.name, 0) + len(jobs)
