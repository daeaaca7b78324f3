"""The live view: what the nodes' HTTP APIs say, once a second, redrawn in place on a terminal
(or one plain line a second when stdout is not one)."""

import concurrent.futures
import shutil
import sys
import time

from . import cluster
from .events import clock

STATES = ["available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled"]
FINAL = [("completed", "completed"), ("retryable", "retryable"), ("discarded", "discarded"),
         ("cancelled", "cancelled"), ("scheduled", "snoozed")]


class Reading:
    """One second's answers: every node's /api/cluster, and the series from one ready node."""

    def __init__(self):
        self.at = time.time()
        self.clusters = {}  # node name -> /api/cluster or None
        self.source = None  # the node the series come from
        self.rates = None  # final state -> jobs/s
        self.executing = None
        self.full_count = None  # state -> count, or None
        self.full_count_note = None
        self.latency = {}  # queue -> (p50 ns, p99 ns, jobs in the last 60 s)


def poll(nodes, pool, with_postgres):
    r = Reading()
    running = [n for n in nodes if n.running()]

    def status(node):
        try:
            return cluster.get(node.http, "/api/cluster", timeout=0.9)
        except (OSError, cluster.HTTPError, ValueError):
            return None

    for node, answer in zip(running, pool.map(status, running)):
        r.clusters[node.name] = answer
    source = next((n for n in running if (r.clusters.get(n.name) or {}).get("ready")), None)
    if source is None:
        return r
    r.source = source.name
    addr = source.http

    def series(path, **params):
        try:
            return cluster.request(addr, path + "?" + "&".join(f"{k}={v}" for k, v in params.items()), timeout=0.9)
        except (OSError, cluster.HTTPError, ValueError):
            return None

    calls = {
        "rates": ("/api/timeslice/exec_count", {"by": 1, "lookback": 9, "group": "state"}),
        "executing": ("/api/latest/executing", {"lookback": 3}),
        "p50": ("/api/latest/exec_time", {"group": "queue", "op": "p50", "lookback": 60}),
        "p99": ("/api/latest/exec_time", {"group": "queue", "op": "p99", "lookback": 60}),
        "count": ("/api/latest/exec_count", {"group": "queue", "lookback": 60}),
    }
    if with_postgres:
        calls["full_count"] = ("/api/latest/full_count", {"group": "state"})
    answers = dict(zip(calls, pool.map(lambda c: series(c[0], **c[1]), calls.values())))
    now = int(r.at)
    if answers["rates"]:
        # Seconds that are over and whose batches have arrived (a batch goes out each second).
        window = range(now - 7, now - 1)
        sums = {}
        for row in answers["rates"][2]:
            if row["ts"] in window:
                sums[row["label"]] = sums.get(row["label"], 0) + (row["value"] or 0)
        r.rates = {label: sums.get(label, 0) / len(window) for label, _ in FINAL}
    if answers["executing"]:
        r.executing = int(answers["executing"][2].get("all", 0) or 0)
    if with_postgres and not (r.clusters.get(source.name) or {}).get("keyframe"):
        r.full_count_note = "no keyframe yet"  # a build that answers zeros without one says so here
    elif with_postgres and answers.get("full_count"):
        _, headers, body = answers["full_count"]
        if body and all(v is not None for v in body.values()):
            r.full_count = {s: int(body.get(s, 0)) for s in STATES}
        else:
            r.full_count_note = headers.get("Met-Unavailable") or "no keyframe yet"
    p50 = answers["p50"][2] if answers["p50"] else {}
    p99 = answers["p99"][2] if answers["p99"] else {}
    count = answers["count"][2] if answers["count"] else {}
    for q in sorted(set(p50) | set(count)):
        r.latency[q] = (p50.get(q), p99.get(q), count.get(q))
    return r


def duration_text(ns):
    if ns is None:
        return "-"
    ms = ns / 1e6
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


class View:
    def __init__(self, sim):
        self.sim = sim
        self.tty = sys.stdout.isatty()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="poll")
        self.drawn = 0
        self.last = None

    def refresh(self, status_line=None):
        reading = poll(self.sim.nodes, self.pool, self.sim.with_postgres)
        self.last = reading
        if self.tty:
            self.draw(self.lines(reading, status_line))
        else:
            print(self.plain(reading, status_line), flush=True)
        return reading

    def draw(self, lines):
        width, height = shutil.get_terminal_size((100, 40))
        lines = lines[:max(1, height - 1)]  # taller than the terminal would scroll instead of redraw
        out = "\x1b[H" if self.drawn else "\x1b[2J\x1b[H"
        out += "".join(line[:width - 1] + "\x1b[K\n" for line in lines) + "\x1b[J"
        sys.stdout.write(out)
        sys.stdout.flush()
        self.drawn += 1

    def leave(self):
        """Ends the live view: the last frame stays on screen, what follows is printed below it."""
        self.pool.shutdown(wait=False)

    def header(self):
        s = self.sim
        parts = [f"{len(s.nodes)} nodes", f"{s.args.rate:g} jobs/s" + ("" if s.with_postgres else " as events over HTTP (--no-postgres)")]
        parts.append(f"chaos seed {s.seed}" if s.args.chaos else f"seed {s.seed}")
        elapsed = clock(s.events.elapsed()) + (f" of {clock(s.args.duration)}" if s.args.duration else "")
        return f"ObanMet simulation · {' · '.join(parts)} · {elapsed}"

    def lines(self, r, status_line):
        s = self.sim
        hint = ("Ctrl-C: stop inserting, drain, and check the cluster against Postgres" if s.with_postgres
                else "Ctrl-C: stop posting, and check the cluster against what the nodes accepted")
        out = [self.header(), status_line or hint, ""]
        out.append(f"{'':<18}" + "".join(f"{name:>11}" for _, name in FINAL))
        if r.rates is not None:
            out.append(f"{'jobs/s, last 5 s':<18}" + "".join(f"{r.rates[label]:>11.1f}" for label, _ in FINAL))
        else:
            out.append(f"{'jobs/s, last 5 s':<18}  (no node answers yet)")
        inserted = f" · inserted {s.inserted_per_second():.1f}/s" if s.with_postgres else f" · posted {s.poster.per_second():.1f}/s"
        out.append(f"executing now {r.executing if r.executing is not None else '-'}{inserted}")
        out.append("")
        if s.with_postgres:
            out.append(f"{'':<12}" + "".join(f"{st:>11}" for st in STATES))
            if r.full_count is not None:
                out.append(f"{'full_count':<12}" + "".join(f"{r.full_count[st]:>11}" for st in STATES))
            else:
                out.append(f"{'full_count':<12} {r.full_count_note or 'no keyframe yet'}")
            out.append(f"{self.keyframe(r)} · {self.leadership(r)}")
        else:
            out.append("full_count: none without a database (--no-postgres); no leader")
        out.append("")
        out.append(f"{'execution time, last 60 s':<28}{'p50':>10}{'p99':>10}{'jobs':>8}")
        for q, (p50, p99, n) in sorted(r.latency.items()):
            out.append(f"  {q:<26}{duration_text(p50):>10}{duration_text(p99):>10}{int(n or 0):>8}")
        if not r.latency:
            out.append("  (no executions yet)")
        out.append("")
        seen = r.clusters.get(r.source) or {}
        members = {m["name"]: m for m in seen.get("members", [])}
        out.append(f"{'node':<8}{'process':<20}{'status':<9}{'lag':>5}  {'ready':<7}dashboard")
        for n in s.nodes:
            m = members.get(n.name)
            own = r.clusters.get(n.name)
            process = f"{n.state} ({n.pid})" if n.running() else n.state
            status = m["status"] if m else "-"
            lag = f"{m['lagSeconds']} s" if m and m.get("lagSeconds") is not None else "-"
            ready = "-" if own is None else ("yes" if own.get("ready") else "no")
            out.append(f"{n.name:<8}{process:<20}{status:<9}{lag:>5}  {ready:<7}http://{n.http}/")
        out.append(f"(status and lag as {r.source or 'no node'} sees them)")
        out.append("")
        chaos = s.chaos
        if chaos and chaos.next:
            at, kind, target = chaos.next
            out.append(f"next chaos: {kind}{' ' + target if target else ''} at {clock(at)}")
        events = s.events.recent(8)
        out.append("events" if events else "events: none yet")
        for at, text in events:
            out.append(f"  {clock(at):>5}  {text}")
        return out

    def keyframe(self, r):
        seen = r.clusters.get(r.source) or {}
        kf = seen.get("keyframe")
        pg = seen.get("postgres") or {}
        reach = "postgres reachable" if pg.get("reachable") else "postgres UNREACHABLE" if pg.get("configured") else ""
        if not kf:
            return f"no keyframe yet · {reach}"
        return f"keyframe {kf['age']} s old (#{kf['number']} by {kf['leader']}) · {reach}"

    def leadership(self, r):
        seen = r.clusters.get(r.source) or {}
        lead = seen.get("leadership") or {}
        if not self.sim.with_postgres:
            return "leader: none (keyframes need a database)"
        if not lead.get("leader"):
            return "leader: none yet"
        return f"leader {lead['leader']}, term {lead.get('term')}"

    def plain(self, r, status_line):
        s = self.sim
        parts = [clock(s.events.elapsed())]
        if status_line:
            parts.append(status_line)
        if r.rates is not None:
            parts.append("jobs/s " + " ".join(f"{name}={r.rates[label]:.1f}" for label, name in FINAL))
        parts.append(f"executing={r.executing if r.executing is not None else '-'}")
        if s.with_postgres:
            if r.full_count is not None:
                parts.append("full_count " + " ".join(f"{st}={r.full_count[st]}" for st in STATES))
            else:
                parts.append(f"full_count: {r.full_count_note or 'no keyframe yet'}")
            parts.append(self.keyframe(r))
            parts.append(self.leadership(r))
        if r.latency:
            parts.append("p50/p99 " + " ".join(f"{q}={duration_text(a)}/{duration_text(b)}" for q, (a, b, _) in sorted(r.latency.items())))
        members = {m["name"]: m for m in (r.clusters.get(r.source) or {}).get("members", [])}
        parts.append("members " + " ".join(
            f"{n.name}:{members[n.name]['status'] if n.name in members else '-'}"
            f"{'/' + str(members[n.name].get('lagSeconds')) + 's' if n.name in members and members[n.name].get('lagSeconds') is not None else ''}"
            for n in s.nodes))
        return " | ".join(parts)
