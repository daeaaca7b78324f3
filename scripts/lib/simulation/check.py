"""The honest ending: drain the queues, then check what the cluster says against what
`oban_jobs` can prove.

What the table proves, per queue (the rule the summary applies):

  completed  executions = jobs in state completed (a completed job is never run again)
  discarded  executions = jobs in state discarded whose last error is of their last attempt
             (a job the rescuer discarded, out of attempts, ended no execution)
  cancelled  executions = jobs in state cancelled whose last error is of their last attempt
             (the simulation cancels nothing from outside)
  retryable  executions = error entries of all jobs − discarded executions − cancelled executions
             (every execution that failed appended one error; those are the ones that did not end the job)
  snoozed    executions = Σ (max_attempts − the max_attempts it was inserted with, kept in meta)
             (a snooze gives back the attempt it cost by raising max_attempts)

and, as a check of the table itself, Σ attempt = all executions + Σ meta.rescued + jobs still
executing (every claim adds one attempt, and ends as exactly one execution or one rescue).

The cluster's side is `exec_count` over the whole run by queue and final state (snoozed is
state `scheduled`), on every node. They must be equal; a SIGKILLed node may have taken its last
interval (at most about one broadcast interval of its executions) with it, so with kills the
cluster may be short by at most the allowance measured at each kill, and never over.
"""

import time

from . import cluster
from .pg import PGError

FINAL = ["completed", "retryable", "discarded", "cancelled", "scheduled"]
STATES = ["available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled", "suspended"]


def table_sql(prefix):
    return f"""
        WITH j AS (
          SELECT queue, state::text AS state, attempt, max_attempts, cardinality(errors) AS errs,
                 cardinality(errors) > 0 AND (errors[cardinality(errors)] ->> 'attempt')::int = attempt AS last_error_ended,
                 coalesce((meta ->> 'max_attempts')::int, max_attempts) AS inserted_max,
                 coalesce((meta ->> 'rescued')::int, 0) AS rescued
          FROM {prefix}.oban_jobs)
        SELECT queue,
          count(*) FILTER (WHERE state = 'completed'),
          count(*) FILTER (WHERE state = 'discarded' AND last_error_ended),
          count(*) FILTER (WHERE state = 'cancelled' AND last_error_ended),
          coalesce(sum(errs), 0),
          coalesce(sum(max_attempts - inserted_max), 0),
          coalesce(sum(attempt), 0),
          coalesce(sum(rescued), 0),
          count(*)
        FROM j GROUP BY queue ORDER BY queue"""


class TableView:
    """What oban_jobs proves, per queue: executions by final state, attempts, rescues, states."""

    def __init__(self, conn, prefix):
        self.executions = {}  # queue -> {final state: n}
        self.attempts = {}
        self.rescued = {}
        self.jobs = 0
        for q, completed, discarded, cancelled, errs, snoozed, attempts, rescued, jobs in conn.query(table_sql(prefix)):
            completed, discarded, cancelled, errs = int(completed), int(discarded), int(cancelled), int(errs)
            self.executions[q] = {"completed": completed, "discarded": discarded, "cancelled": cancelled,
                                  "retryable": errs - discarded - cancelled, "scheduled": int(snoozed)}
            self.attempts[q] = int(attempts)
            self.rescued[q] = int(rescued)
            self.jobs += int(jobs)
        self.groups = {}  # queue -> {state: n}
        for q, state, n in conn.query(f"SELECT queue, state::text, count(*) FROM {prefix}.oban_jobs GROUP BY 1, 2"):
            self.groups.setdefault(q, {s: 0 for s in STATES})[state] = int(n)
        self.fingerprint = (repr(sorted(self.groups.items())), repr(sorted(self.executions.items())), repr(sorted(self.attempts.items())))

    def state_total(self, state):
        return sum(g.get(state, 0) for g in self.groups.values())


def run_now(conn, prefix):
    """Makes every scheduled and retryable job due now (Oban's `drain_queue(with_scheduled: true)`):
    the stager then makes them available and the workers run them, retries and snoozes included,
    until every job has ended. Only `scheduled_at` changes, never a state."""
    rows = conn.query(f"""UPDATE {prefix}.oban_jobs SET scheduled_at = timezone('UTC', now())
                          WHERE state IN ('scheduled', 'retryable') AND scheduled_at > timezone('UTC', now())
                          RETURNING id""")
    return len(rows)


def node_counts(node, since, queues, with_full_count):
    """(exec_count, full_count) of one node by queue and state; None where it did not answer."""
    execs, fulls = {}, {}
    try:
        for q in queues:
            body = cluster.get(node.http, "/api/latest/exec_count", timeout=3, group="state", filter=f"queue:{q}", since=since)
            execs[q] = {s: int(body.get(s, 0) or 0) for s in FINAL}
            if with_full_count:
                body = cluster.get(node.http, "/api/latest/full_count", timeout=3, group="state", filter=f"queue:{q}")
                fulls[q] = None if any(v is None for v in body.values()) else {s: int(body.get(s, 0) or 0) for s in STATES}
    except (OSError, cluster.HTTPError, ValueError):
        return None, None
    return execs, fulls if with_full_count else None


class Drain:
    """Drains the queues: every 0.5 s, rescues orphans and makes waiting jobs due now, until no
    job is available, executing, scheduled or retryable and the table has not changed for 2 s (a
    broadcast interval and its lag, so the nodes have heard of the last moves). Returns False at
    the deadline."""

    def __init__(self, sim, conn, deadline=120):
        self.sim, self.conn, self.deadline = sim, conn, deadline
        self.status = "draining"

    def run(self):
        sim = self.sim
        start = time.monotonic()
        last_print, fingerprint, stable_since = 0.0, None, time.monotonic()
        while time.monotonic() - start < self.deadline:
            sim.rescuer.rescue(sim.nodes, sim.live_http)
            try:
                run_now(self.conn, sim.prefix)
                table = TableView(self.conn, sim.prefix)
            except PGError as e:
                self.status, table = f"draining: postgres unreachable ({e})", None
            if table is not None:
                if table.fingerprint != fingerprint:
                    fingerprint, stable_since = table.fingerprint, time.monotonic()
                left = {s: table.state_total(s) for s in ("available", "executing", "scheduled", "retryable")}
                self.status = "draining (waiting jobs run now): " + ", ".join(f"{n} {s}" for s, n in left.items())
                if not any(left.values()) and time.monotonic() - stable_since >= 2:
                    return True
            if time.monotonic() - last_print >= 1:
                last_print = time.monotonic()
                sim.view.refresh(self.status)
            time.sleep(0.5)
        return False
