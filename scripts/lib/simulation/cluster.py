"""The simulated cluster's processes (`met worker` or `met node`) and their HTTP APIs."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request


class HTTPError(Exception):
    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


def request(addr, path, body=None, timeout=1.5, content_type="application/json"):
    """(status, headers, parsed JSON or None) of one request; raises OSError when nobody answers."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("Content-Type", content_type)
    token = os.environ.get("MET_HTTP_TOKEN")  # nodes started with a token need it (docs/api.md)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, resp.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            message = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = raw.decode(errors="replace")[:200]
        raise HTTPError(e.code, message) from None


def get(addr, path, timeout=1.5, **params):
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return request(addr, path + ("?" + query if query else ""), timeout=timeout)[2]


class Node:
    """One node process: started in a session of its own, so the terminal's Ctrl-C reaches only
    the simulation, which then still has nodes to ask before it stops them."""

    def __init__(self, index, name, mesh, http, argv, log_path, env):
        self.index = index
        self.name = name
        self.mesh = mesh
        self.http = http
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc = None
        self.starts = 0
        # What the simulation did to it last: running, stopping, stopped, killed.
        self.state = "stopped"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
        finally:
            log.close()
        with open(os.path.splitext(self.log_path)[0] + ".pid", "w") as f:
            f.write(f"{self.proc.pid}\n")  # scripts/simulate stops it if this script could not
        self.starts += 1
        self.state = "running"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            self.state = "stopping"

    def kill(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.state = "killed"

    def wait(self, timeout):
        """The exit status, or None if it is still running after `timeout` seconds."""
        if self.proc is None:
            return 0
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.state == "stopping":
            self.state = "stopped"
        return code

    def stop(self, timeout):
        """SIGTERM and wait (the node hands its store off); SIGKILL after `timeout` seconds."""
        self.terminate()
        code = self.wait(timeout)
        if code is None:
            self.kill()
            code = -signal.SIGKILL
        return code

    def ready(self, timeout=1.0):
        try:
            return bool(get(self.http, "/api/cluster", timeout=timeout).get("ready"))
        except (OSError, HTTPError, ValueError):
            return False

    def log_tail(self, lines=8):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.path.getsize(self.log_path) - 8192))
                return f.read().decode(errors="replace").splitlines()[-lines:]
        except OSError:
            return []


def port_free(address):
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
            return True
        except OSError:
            return False


def wait_until(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
