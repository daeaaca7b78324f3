#!/usr/bin/env python3
"""The dashboard in a real browser (scripts/test-browser).

Starts a 2-node cluster of `met node` processes on loopback (ports from the OS, a throwaway
secret), posts job events to both in a loop and a marker, loads the dashboard in headless
Chromium, driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no port, no
websocket library), and checks:
  - the page loads with no console error, exception or failed request;
  - the charts are drawn with scripts disabled too;
  - live values change between two moments without a reload;
then saves screenshots at 1280x800 (light and dark) and 390x844 into the output folder.
With MET_TEST_DATABASE_URL the nodes also lead and take keyframes from that Postgres, where a
thread keeps oban_jobs (in a schema of its own) moving, and the job counts must be shown.
Everything it starts is stopped on exit, whatever happens.

Usage: dashboard_browser.py MET_BINARY CHROMIUM OUT_DIR
"""

import base64
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import devtools_pipe
from devtools_pipe import Chromium, Failure, log, wait_for

WARMUP = float(os.environ.get("MET_BROWSER_WARMUP", "25"))  # seconds of traffic before the page is loaded
devtools_pipe.DEADLINE[0] = time.monotonic() + 110 + WARMUP  # the whole check, within scripts/test-browser's bound


def auth_headers():
    """The bearer token the nodes need when MET_HTTP_TOKEN is set (docs/api.md)."""
    token = os.environ.get("MET_HTTP_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


class Node:
    """One `met node` process; its addresses are read back from its log."""

    def __init__(self, binary, name, workdir, secret, seeds=(), database=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        args = [binary, "node", "--cluster", f"browser-{os.getpid()}", "--node", name, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]
        for s in seeds:
            args += ["--seed", s]
        if database:
            args += ["--database", database, "--prefix", SCHEMA, "--keyframe-interval", "1"]
        env = dict(os.environ, MET_CLUSTER_SECRET=secret)
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.mesh = wait_for(f"{name}'s mesh listener", lambda: self.address("mesh listening on "))
        self.http = wait_for(f"{name}'s http listener", lambda: self.address("http listening on "))

    def address(self, marker):
        if self.proc.poll() is not None:
            raise Failure(f"{self.name} exited with {self.proc.returncode}:\n{self.text()}")
        m = re.search(re.escape(marker) + r"([0-9.:\[\]]+)", self.text())
        return m.group(1) if m else None

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, path):
        return f"http://{self.http}{path}"

    def post(self, path, body, content_type="application/x-ndjson"):
        req = urllib.request.Request(self.url(path), data=body.encode(), method="POST", headers={"Content-Type": content_type, **auth_headers()})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()

    def get_json(self, path):
        with urllib.request.urlopen(urllib.request.Request(self.url(path), headers=auth_headers()), timeout=5) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


class Traffic(threading.Thread):
    """Posts a few jobs to every node every 200 ms: starts, stops in every final state, checks."""

    QUEUES = ["default", "mailers", "media", "billing"]
    WORKERS = ["App.Mailer", "App.Thumbnail", "App.Invoice", "App.Sync"]

    def __init__(self, nodes):
        super().__init__(daemon=True)
        self.nodes = nodes
        self.stopping = threading.Event()
        self.errors = []
        self.n = 0
        self.running = {}
        # Queue checks over POST /api/events came later than the other events: send them when
        # the node takes them.
        self.checks = self.accepted(nodes[0], {"event": "queue_check", "queue": "default", "limit": 10, "paused": False, "running": []})

    @staticmethod
    def accepted(node, line):
        try:
            return node.post("/api/events", json.dumps(line) + "\n")[0] == 200
        except urllib.error.HTTPError:
            return False

    def lines(self, node_index):
        out = []
        # Jobs started at the last tick finish now: the executing level stays a few jobs a queue.
        for q, w, state, exec_ns, wait_ns in self.running.pop(node_index, []):
            out.append({"event": "job_stop", "queue": q, "worker": w, "state": state, "exec_ns": exec_ns, "wait_ns": wait_ns})
        # The load comes in waves (a period of about two minutes), so the charts have a shape.
        per_tick = int(12 * (1 + 0.6 * math.sin(time.monotonic() / 20 + node_index)))
        for k in range(per_tick):
            self.n += 1
            q = self.QUEUES[(self.n + node_index) % len(self.QUEUES)]
            w = self.WORKERS[self.n % len(self.WORKERS)]
            roll = (self.n * 7919) % 100
            state = "completed" if roll < 84 else "retryable" if roll < 93 else "discarded" if roll < 96 else "scheduled" if roll < 99 else "cancelled"
            # Execution times between ~0.3 ms and ~2 s, on the queue's own scale.
            scale = {"default": 4e6, "mailers": 25e6, "media": 180e6, "billing": 60e6}[q]
            exec_ns = int(scale * (0.2 + ((self.n * 2654435761) % 1000) / 1000 * 1.6) ** 3)
            wait_ns = int(1e6 + ((self.n * 40503) % 997) * 2e5)
            out.append({"event": "job_start", "queue": q, "worker": w})
            if k < 3:
                self.running.setdefault(node_index, []).append((q, w, state, exec_ns, wait_ns))
            else:
                out.append({"event": "job_stop", "queue": q, "worker": w, "state": state, "exec_ns": exec_ns, "wait_ns": wait_ns})
        for q in self.QUEUES if self.checks else []:
            out.append({"event": "queue_check", "queue": q, "limit": 10, "paused": q == "billing" and node_index == 1,
                        "running": list(range(1, 1 + (self.n + len(q)) % 8))})
        return "\n".join(json.dumps(x) for x in out) + "\n"

    def run(self):
        while not self.stopping.is_set():
            for i, node in enumerate(self.nodes):
                try:
                    node.post("/api/events", self.lines(i))
                except Exception as e:  # noqa: BLE001 - reported at the end
                    self.errors.append(f"{node.name}: {e}")
            self.stopping.wait(0.2)


SCHEMA = "met_browser"


class Jobs(threading.Thread):
    """With a database: keeps `oban_jobs` (in its own schema) moving, so that the leader's
    keyframes give the job counts: inserts available and scheduled jobs, completes, retries
    and discards some, every half second."""

    def __init__(self, psql, database):
        super().__init__(daemon=True)
        self.psql, self.database = psql, database
        self.stopping = threading.Event()
        self.errors = []

    def sql(self, statement):
        r = subprocess.run([self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.database, "-c", statement],
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            self.errors.append(r.stderr.strip())

    def run(self):
        t = SCHEMA
        while not self.stopping.is_set():
            self.sql(f"""
              INSERT INTO {t}.oban_jobs (state, queue, worker)
                SELECT (ARRAY['available','available','available','scheduled']::{t}.oban_job_state[])[1 + i % 4],
                       (ARRAY['default','mailers','media','billing'])[1 + (i * 7 + (random() * 3)::int) % 4], 'App.Worker'
                FROM generate_series(1, 20 + (random() * 30)::int) AS i;
              UPDATE {t}.oban_jobs SET state = (ARRAY['completed','completed','completed','completed','retryable','discarded',
                                                      'executing']::{t}.oban_job_state[])[1 + (id % 7)]
                WHERE id IN (SELECT id FROM {t}.oban_jobs WHERE state = 'available' ORDER BY random() LIMIT 14);
              UPDATE {t}.oban_jobs SET state = 'completed'
                WHERE id IN (SELECT id FROM {t}.oban_jobs WHERE state = 'executing' ORDER BY id LIMIT 2);""")
            self.stopping.wait(0.5)


PROBE = "window.__metProbe"
LIVE_VALUES = """JSON.stringify({
  updated: document.querySelector('#status time') && document.querySelector('#status time').textContent,
  executed: Array.from(document.querySelectorAll('#executed .legend b')).map(b => b.dataset.v).join(','),
  seqs: Array.from(document.querySelectorAll('#cluster .members td:nth-child(3)')).map(td => td.textContent).join(','),
  probe: window.__metProbe || null,
  navigations: performance.getEntriesByType('navigation').length,
  badge: document.getElementById('live').textContent
})"""


DRAWN_PARTS = """JSON.stringify(['#executed .bars path', '#exec-time .lines path', '#histogram .bars path', '#executed .marker']
    .map(s => s + ': ' + document.querySelectorAll(s).length))"""


def drawn(browser):
    return browser.evaluate("""document.querySelectorAll('#executed .bars path').length > 0
        && document.querySelectorAll('#exec-time .lines path').length > 0
        && document.querySelectorAll('#histogram .bars path').length > 0
        && document.querySelectorAll('#executed .marker').length > 0""")


def main():
    met, chromium, out = sys.argv[1], sys.argv[2], sys.argv[3]
    warmup = WARMUP
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    work = tempfile.mkdtemp(prefix="met-browser-")
    nodes, traffic, browser, jobs = [], None, None, None
    ok = False
    try:
        secret = base64.b64encode(os.urandom(32)).decode()
        # Chromium first: it is started with preexec_fn, which must not run beside other threads.
        browser = Chromium(chromium, os.path.join(work, "profile"))
        database = os.environ.get("MET_TEST_DATABASE_URL")
        if database:
            schema = subprocess.run([met, "schema", "--database", database, "--prefix", SCHEMA], capture_output=True, text=True, timeout=60)
            if schema.returncode != 0:
                raise Failure(f"met schema failed: {schema.stdout} {schema.stderr}")
            jobs = Jobs(os.environ.get("MET_PSQL", "psql"), database)
            jobs.sql(f"TRUNCATE {SCHEMA}.oban_jobs")
            log(f"with Postgres: oban_jobs in schema {SCHEMA}, keyframes every second")
        a = Node(met, "node-a", work, secret, database=database)
        nodes.append(a)
        b = Node(met, "node-b", work, secret, seeds=[a.mesh], database=database)
        nodes.append(b)
        wait_for("both nodes to be connected", lambda: all(
            sum(1 for m in n.get_json("/api/cluster")["members"] if m["connected"]) == 2 for n in nodes))
        log(f"cluster up: node-a http {a.http}, node-b http {b.http}")
        traffic = Traffic(nodes)
        traffic.start()
        if database:
            jobs.start()
        status, _ = a.post("/api/markers", json.dumps({"label": "load test start", "at": int(time.time()) - 2}), "application/json")
        if status != 201:
            raise Failure(f"POST /api/markers answered {status}")
        time.sleep(warmup / 2)  # history for the charts: traffic flows meanwhile
        mark = subprocess.run([met, "mark", "deploy v2", "--at-node", b.http], capture_output=True, text=True, timeout=20)
        if mark.returncode != 0:
            raise Failure(f"met mark failed: {mark.stdout} {mark.stderr}")
        time.sleep(warmup / 2)

        browser.open_page()
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        page = a.url("/?range=5m")
        browser.navigate(page)
        try:
            wait_for("the charts to be drawn", lambda: drawn(browser))
        except Failure:
            browser.screenshot(os.path.join(work, "failed.png"))
            log(browser.evaluate(DRAWN_PARTS))
            raise
        before = json.loads(browser.evaluate(LIVE_VALUES))
        browser.evaluate(f"{PROBE} = 'no reload'")
        log(f"loaded {page}: {before}")

        def changed():
            now = json.loads(browser.evaluate(LIVE_VALUES))
            return now if (now["probe"] == "no reload" and now["navigations"] == 1 and now["updated"] != before["updated"]
                           and now["executed"] != before["executed"] and now["seqs"] != before["seqs"]) else None
        after = wait_for("live values to change without a reload", changed, timeout=15)
        log(f"live without a reload: {after}")
        if after["badge"] != "live":
            raise Failure(f"the live badge says {after['badge']!r}")
        browser.screenshot(os.path.join(out, "dashboard-1280.png"))
        if os.environ.get("MET_BROWSER_FULL") == "1":
            browser.screenshot(os.path.join(out, "dashboard-1280-full.png"), full=True)
        browser.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        browser.pump(0.5)
        browser.screenshot(os.path.join(out, "dashboard-1280-dark.png"))
        browser.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

        browser.send("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
        browser.navigate(page)
        wait_for("the charts to be drawn at 390 px", lambda: drawn(browser))
        width = browser.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            raise Failure(f"the page is {width} px wide at 390 px: it scrolls sideways")
        browser.screenshot(os.path.join(out, "dashboard-390.png"))

        problems = browser.problems()
        browser.send("Emulation.setScriptExecutionDisabled", {"value": True})
        browser.navigate(page)
        no_script = browser.evaluate("""[document.documentElement.classList.contains('js'),
            document.querySelectorAll('#executed .bars path').length, document.getElementById('live').textContent]""")
        if no_script[0] or no_script[1] == 0:
            raise Failure(f"without scripts the charts are not drawn: {no_script}")
        log(f"without scripts: {no_script[1]} series drawn in the executed chart, badge {no_script[2]!r}")
        problems += browser.problems()
        if problems:
            raise Failure("the browser reported problems:\n  " + "\n  ".join(problems))
        if traffic.errors:
            raise Failure(f"posting events failed: {traffic.errors[:3]}")
        if jobs and jobs.errors:
            raise Failure(f"moving oban_jobs failed: {jobs.errors[:3]}")
        if database and not browser.evaluate("document.querySelectorAll('#counts .tiles li').length === 8"):
            raise Failure("with Postgres, the job counts by state are not shown")
        ok = True
        log("ok: no console errors, live values change without a reload, charts drawn without scripts")
    except Failure as e:
        log(f"FAILED: {e}")
        for n in nodes:
            log(f"--- log of {n.name} (last 40 lines) ---\n" + "\n".join(n.text().splitlines()[-40:]))
    finally:
        for thread in (traffic, jobs):
            if thread and thread.is_alive():
                thread.stopping.set()
                thread.join(timeout=20)
        if browser:
            browser.stop()
        for n in nodes:
            if n.proc.poll() is None:
                n.proc.send_signal(signal.SIGTERM)
        for n in nodes:
            n.stop()
        subprocess.run(["rm", "-rf", work], check=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
