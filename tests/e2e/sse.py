"""sse.py: a server-sent events client for the tests: one HTTPS stream read by a thread into a
queue, so that a test waits for an event with a deadline and can tell a stream that ended."""
import base64
import http.client
import json
import queue
import ssl
import threading
import time

from agent import PASSWORD
from vigil import scaled

SSE_PATH = "/redfish/v1/EventService/SSE"
END = object()  # put on the queue when the stream ends


class Stream:
    """GET on the SSE URI; .status, .headers; events() yields {"id", "data" (parsed), "at"}."""

    def __init__(self, agent, query="", user=("admin", PASSWORD), token=None, last_id=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection("127.0.0.1", agent.port, context=ctx,
                                                timeout=scaled(120))
        hd = {"Accept": "text/event-stream"}
        if token:
            hd["X-Auth-Token"] = token
        elif user:
            hd["Authorization"] = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        if last_id:
            hd["Last-Event-ID"] = last_id
        self.conn.request("GET", SSE_PATH + query, headers=hd)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.q = queue.Queue()
        self.comments = 0
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = json.loads(self.resp.read() or b"null")

    def _read(self):
        ev = {}
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("id: "):
                    ev["id"] = line[4:]
                elif line.startswith("data: "):
                    ev["data"] = json.loads(line[6:])
                elif line == "" and ev:
                    ev["at"] = time.monotonic()
                    self.q.put(ev)
                    ev = {}
        except Exception:  # the stream ended (closed, cut, or malformed): END says so
            pass
        self.q.put(END)

    def next(self, timeout=10):
        """The next event, or None when none came within timeout; END when the stream ended."""
        return self._get(scaled(timeout))

    def _get(self, seconds):
        try:
            return self.q.get(timeout=max(seconds, 0.001))
        except queue.Empty:
            return None

    def wait(self, pred, timeout=10, what="an event"):
        """Events up to the first one whose record satisfies pred: (that event, all seen)."""
        deadline = time.monotonic() + scaled(timeout)
        seen = []
        while True:
            left = deadline - time.monotonic()
            ev = self._get(left) if left > 0 else None
            assert ev is not None, f"no {what} within {timeout} s; saw {[record(e)['MessageId'] for e in seen]}"
            assert ev is not END, f"the stream ended before {what}"
            seen.append(ev)
            if pred(record(ev)):
                return ev, seen

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def record(ev):
    """The one EventRecord of an SSE event."""
    return ev["data"]["Events"][0]


def origin(rec):
    return rec.get("OriginOfCondition", {}).get("@odata.id")
