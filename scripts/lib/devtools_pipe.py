#!/usr/bin/env python3
"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
commands go to the browser's fd 3 and answers come from its fd 4, as NUL-terminated JSON, so no
port and no websocket library are needed. Used by dashboard_browser.py (scripts/test-browser)."""

import base64
import json
import os
import select
import signal
import subprocess
import sys
import time

DEADLINE = [time.monotonic() + 600]  # set by the caller: no wait goes past it


def log(msg):
    print(f"test-browser: {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    pass


def wait_for(what, condition, timeout=20.0, every=0.1):
    """Polls `condition` until it returns a true value; raises Failure naming `what` on timeout."""
    end = min(time.monotonic() + timeout, DEADLINE[0])
    last = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - the last error is reported on timeout
            last = e
        time.sleep(every)
    raise Failure(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))


class Chromium:
    """Headless Chromium driven over the DevTools protocol on fds 3 and 4."""

    def __init__(self, binary, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():  # in the child: the protocol's fds 3 (commands in) and 4 (answers out)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}", "about:blank"]
        # fds 3 and 4 are kept too: the child closes every other fd after preexec_fn has run.
        self.log = open(os.path.join(profile + ".log"), "wb")
        self.proc = subprocess.Popen(args, pass_fds=(3, 4, to_chrome_r, from_chrome_w), preexec_fn=fds, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in self.read():
                if m.get("id") == self.next_id:
                    if "error" in m:
                        raise Failure(f"{method}: {m['error']}")
                    return m.get("result", {})
                self.events.append(m)
        raise Failure(f"no answer to {method} within {timeout} s")

    def read(self):
        ready, _, _ = select.select([self.from_chrome], [], [], 0.5)
        if not ready:
            return []
        chunk = os.read(self.from_chrome, 1 << 20)
        if not chunk:
            raise Failure("chromium closed the DevTools pipe")
        self.buffer += chunk
        out = []
        while b"\0" in self.buffer:
            raw, self.buffer = self.buffer.split(b"\0", 1)
            out.append(json.loads(raw))
        return out

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.events.extend(self.read())

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ["Page", "Runtime", "Log", "Network"]:
            self.send(f"{domain}.enable")

    def evaluate(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise Failure(f"evaluating {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def navigate(self, url):
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        wait_for(f"{url} to load", lambda: self.evaluate("document.readyState") == "complete")

    def screenshot(self, path, full=False):
        params = {"format": "png"}
        if full:  # the whole page, not only the viewport
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        log(f"saved {path}")

    def problems(self):
        """Console errors and warnings, exceptions, failed requests, CSP violations seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')} {p['exceptionDetails'].get('exception', {}).get('description', '')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value', a.get('description')) for a in p.get('args', [])]}")
            elif m == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif m == "Network.loadingFailed":
                out.append(f"request failed: {p.get('errorText')}")
            elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
                out.append(f"HTTP {p['response']['status']} for {p['response']['url']}")
        return out

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        for fd in (self.to_chrome, self.from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
