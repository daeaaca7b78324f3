"""What happened during the run (chaos actions, bursts, outages), as the view and the log show
it; each can also become a marker on the dashboard (`POST /api/markers`)."""

import json
import sys
import threading
import time

from . import cluster


class Events:
    def __init__(self, started, live_http, plain):
        self.started = started
        self.live_http = live_http
        self.plain = plain
        self.lock = threading.Lock()
        self.items = []  # (elapsed seconds, text)
        self.markers = True  # False once a node answered 404: a build without markers
        self.marker_note = None

    def elapsed(self):
        return time.monotonic() - self.started

    def note(self, text, marker=False):
        at = self.elapsed()
        with self.lock:
            self.items.append((at, text))
        if self.plain:
            try:
                print(f"{clock(at)}  {text}", flush=True)
            except OSError:
                pass
        if marker:
            self.mark(text)

    def recent(self, n):
        with self.lock:
            return list(self.items[-n:])

    def all(self):
        with self.lock:
            return list(self.items)

    def mark(self, label):
        """A marker on every chart of the dashboard; a note, once, when this build has none."""
        if not self.markers:
            return
        addr = self.live_http()
        if addr is None:
            return
        try:
            cluster.request(addr, "/api/markers", json.dumps({"label": label[:200], "at": int(time.time())}))
        except cluster.HTTPError as e:
            if e.status in (404, 405):
                self.markers = False
                self.note("note: this build has no markers (POST /api/markers answered 404); chaos actions are not drawn on the dashboard")
        except OSError:
            pass


def clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def say(text):
    """A line for the person running the simulation, outside the live view."""
    try:
        print(f"simulate: {text}", file=sys.stderr, flush=True)
    except OSError:
        pass  # the terminal is gone (hung up): carry on stopping
