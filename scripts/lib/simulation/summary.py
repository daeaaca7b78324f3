"""The summary: the cluster's counts against what Postgres proves (check.py says the rule), or,
without Postgres, against what the simulation posted; every node must agree."""

import time

from . import check
from .check import FINAL, STATES, TableView
from .pg import PGError

NAMES = {"completed": "completed", "retryable": "retried", "discarded": "discarded", "cancelled": "cancelled", "scheduled": "snoozed"}


class Result:
    def __init__(self):
        self.lines = []
        self.ok = True

    def line(self, text, ok=None):
        """A line of the summary; a checked one ends in ok or MISMATCH, aligned."""
        if ok is False:
            self.ok = False
        if ok is None:
            self.lines.append(text)
        else:
            self.lines.append(f"{text:<84} {'ok' if ok else 'MISMATCH'}")


def totals(by_queue):
    out = {s: 0 for s in FINAL}
    for counts in by_queue.values():
        for s in FINAL:
            out[s] += counts.get(s, 0)
    return out


def compare_execs(result, expected, reads, kills, what):
    """`expected` and each node's read: queue -> {final state: n}. Exact, or short within the kills' allowance."""
    names = sorted(reads)
    first = reads[names[0]]
    queues = sorted(set(expected) | set().union(*[set(r) for r in reads.values()]))
    agree = all(reads[n] == first for n in names)
    shortfall = {}
    for q in queues:
        for s in FINAL:
            d = expected.get(q, {}).get(s, 0) - first.get(q, {}).get(s, 0)
            if d:
                shortfall[(q, s)] = d
    over = {k: -d for k, d in shortfall.items() if d < 0}
    short = sum(d for d in shortfall.values() if d > 0)
    allowance = sum(a for _, _, a in kills)
    exp_t, got_t = totals(expected), totals(first)
    result.line(f"    {'':<12}{'cluster':>10}{what:>12}")
    for s in FINAL:
        result.line(f"    {NAMES[s]:<12}{got_t[s]:>10}{exp_t[s]:>12}")
    if not kills:
        result.line(f"  by queue and final state, exec_count equals {what} exactly", not shortfall)
    else:
        lost = ", ".join(f"{d} {NAMES[s]} ({q})" for (q, s), d in sorted(shortfall.items()) if d > 0) or "nothing"
        result.line(f"  by queue and final state, short by {short}, within the SIGKILLs' last intervals",
                    not over and short <= allowance)
        result.line(f"    lost: {lost}")
        for at, name, a in kills:
            result.line(f"    {name} SIGKILLed at {int(at) // 60}:{int(at) % 60:02d}: may lose {a} (its last interval; see the events)")
    if over:
        result.line(f"  the cluster counts MORE than {what}: {sorted(over.items())}", False)
    elif shortfall and (not kills or short > allowance):
        result.line(f"    {what} − cluster by (queue, state): {sorted(shortfall.items())}")
    result.line(f"  every node holds the same exec_count ({', '.join(names)})", agree)
    if not agree:
        for n in names:
            result.line(f"    {n}: {sorted(totals(reads[n]).items())}")


def with_postgres(sim, conn, deadline=60):
    """Compares until the cluster agrees with the table, or `deadline` seconds: reads the table
    before and after the nodes, and reads again if it moved in between (a scheduled job came
    due), so what is compared is one state of the table."""
    end = time.monotonic() + deadline
    waiting, result = "", None
    while True:
        try:
            before = TableView(conn, sim.prefix)
            reads, fulls = {}, {}
            for node in sim.nodes:
                if node.running():
                    reads[node.name], fulls[node.name] = check.node_counts(node, sim.since, sim.mix.queues, True)
            after = TableView(conn, sim.prefix)
        except PGError as e:
            waiting, before = f"postgres unreachable ({e})", None
        if before is None:
            pass
        elif before.fingerprint != after.fingerprint:
            waiting = "jobs moved during the check; reading again"
        elif any(v is None for v in reads.values()):
            waiting = "a node did not answer"
        else:
            result = evaluate(sim, before, reads, fulls)
            if result.ok:
                return result
            waiting = "waiting for the nodes to agree with oban_jobs"
        if time.monotonic() > end:
            if result is None:
                result = Result()
                result.line(f"  could not check: {waiting}", False)
            return result
        sim.view.refresh(f"checking: {waiting}")
        time.sleep(1)


def evaluate(sim, table, reads, fulls):
    r = Result()
    kills = sim.chaos.kills if sim.chaos else []
    r.line(f"  jobs inserted {sim.inserter.inserted}, rows in oban_jobs {table.jobs}", sim.inserter.inserted == table.jobs)
    r.line("  executions over the whole run by final state: exec_count against what oban_jobs proves")
    compare_execs(r, table.executions, reads, kills, "oban_jobs")
    attempts = sum(table.attempts.values())
    executed = sum(totals(table.executions).values())
    rescued = sum(table.rescued.values())
    executing = table.state_total("executing")
    r.line(f"  attempts {attempts} = {executed} executions + {rescued} rescued orphans + {executing} executing",
           attempts == executed + rescued + executing)
    queues = sorted(set(table.groups) | set(sim.mix.queues))
    expected = {q: table.groups.get(q, {s: 0 for s in STATES}) for q in queues}
    bad = [name for name, full in sorted(fulls.items()) if full is None or any(full.get(q) != expected[q] for q in queues)]
    r.line(f"  full_count by queue and state = GROUP BY, on {', '.join(sorted(fulls))}", not bad)
    r.line("    " + ", ".join(f"{s} {table.state_total(s)}" for s in STATES if table.state_total(s)))
    for name in bad:
        got = fulls[name]
        diffs = [(q, s, got.get(q, {}).get(s) if got else None, expected[q][s]) for q in queues for s in STATES
                 if got is None or got.get(q, {}).get(s) != expected[q][s]]
        r.line(f"    {name} (queue, state, full_count, table): {diffs[:6]}")
    if rescued:
        r.line(f"  {rescued} orphaned job(s) rescued (Oban's Lifeline): claimed by a killed node, or as Postgres restarted")
    return r


def by_node(r, sim):
    """Per node: what it accepted against what the cluster holds of it (exec_count by `node`)."""
    node = next(n for n in sim.nodes if n.running())
    try:
        held = check.cluster.get(node.http, "/api/latest/exec_count", timeout=3, group="node", since=sim.since)
    except (OSError, check.cluster.HTTPError, ValueError):
        return
    allowed = {}
    for _, name, a in (sim.chaos.kills if sim.chaos else []):
        allowed[name] = allowed.get(name, 0) + a
    for name, posted in sorted(sim.poster.by_node.items()):
        got = int(held.get(name, 0) or 0)
        r.line(f"    {name}: accepted {posted}, the cluster holds {got}{' (SIGKILLed)' if name in allowed else ''}",
               posted - allowed.get(name, 0) <= got <= posted)


def without_postgres(sim, deadline=30):
    end = time.monotonic() + deadline
    while True:
        reads = {}
        for node in sim.nodes:
            if node.running():
                reads[node.name], _ = check.node_counts(node, sim.since, sim.mix.queues, False)
        if all(v is not None for v in reads.values()):
            r = Result()
            r.line("  executions posted over HTTP by final state: exec_count against what the nodes accepted")
            compare_execs(r, sim.poster.totals(), reads, sim.chaos.kills if sim.chaos else [], "posted")
            by_node(r, sim)
            if r.ok or time.monotonic() > end:
                return r
        elif time.monotonic() > end:
            r = Result()
            r.line("  could not check: a node did not answer", False)
            return r
        sim.view.refresh("checking: waiting for the nodes to hold what was posted")
        time.sleep(1)
