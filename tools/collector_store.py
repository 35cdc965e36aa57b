"""collector_store.py: vigil-collector's request bodies (chunked decoding, streamed multipart
parts), its scripted answers for tests, and its store of reports (each UUID stored once)."""
import json
import os
import re
import secrets
import shutil
import threading
import time

MAX_HEADER_LINE = 8192
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class BadRequest(Exception):
    pass


class FailPlan:
    """Scripted answers for tests: "500,429:2,400" answers the next three uploads with 500,
    429 (Retry-After: 2) and 400, then uploads are handled normally again."""

    def __init__(self, spec=""):
        self.lock = threading.Lock()
        self.steps = []
        self.set(spec)

    def set(self, spec):
        steps = []
        for word in filter(None, (w.strip() for w in spec.split(","))):
            code, _, retry = word.partition(":")
            if not code.isdigit() or not 100 <= int(code) <= 599 or (retry and not retry.isdigit()):
                raise ValueError(f"bad fail-plan step {word!r}: want CODE or CODE:RETRY_AFTER")
            steps.append((int(code), int(retry) if retry else None))
        with self.lock:
            self.steps = steps

    def next(self):
        with self.lock:
            return self.steps.pop(0) if self.steps else None

    def left(self):
        with self.lock:
            return len(self.steps)


class Body:
    """The request body as a byte stream: chunked transfer coding decoded, or Content-Length."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        te = headers.get("Transfer-Encoding", "").lower()
        self.chunked = "chunked" in te
        if not self.chunked:
            cl = headers.get("Content-Length")
            if cl is None or not cl.isdigit():
                raise BadRequest("a body needs Content-Length or Transfer-Encoding: chunked")
            self.left = int(cl)
        else:
            self.left = 0
        self.done = False

    def _line(self):
        line = self.rfile.readline(MAX_HEADER_LINE)
        if not line.endswith(b"\n"):
            raise BadRequest("truncated chunked body")
        return line.rstrip(b"\r\n")

    def read(self, n=65536):
        """Up to n bytes; b"" at the end."""
        if self.done:
            return b""
        if self.chunked and self.left == 0:
            size = self._line().split(b";")[0].strip()
            try:
                self.left = int(size, 16)
            except ValueError:
                raise BadRequest(f"bad chunk size line {size[:40]!r}")
            if self.left == 0:
                while self._line():  # trailers, up to the empty line
                    pass
                self.done = True
                return b""
        if not self.chunked and self.left == 0:
            self.done = True
            return b""
        data = self.rfile.read(min(n, self.left))
        if not data:
            raise BadRequest("the body ended early")
        self.left -= len(data)
        if self.chunked and self.left == 0 and self.rfile.read(2) != b"\r\n":
            raise BadRequest("a chunk is not followed by CRLF")
        return data

    def drain(self):
        while self.read():
            pass


def parts(body, boundary):
    """Yields (headers dict, generator of the part's bytes) for each multipart part, streaming."""
    delim = b"\r\n--" + boundary
    buf = b"\r\n"  # the first delimiter has no CRLF before it: pretend it does
    eof = False

    def fill():
        nonlocal buf, eof
        data = body.read()
        if not data:
            eof = True
        buf += data

    # Skip the preamble up to the first delimiter.
    while True:
        i = buf.find(delim)
        if i >= 0:
            buf = buf[i + len(delim):]
            break
        if eof:
            raise BadRequest("no multipart boundary in the body")
        buf = buf[-len(delim):]
        fill()
    while True:
        while len(buf) < 2 and not eof:
            fill()
        if buf.startswith(b"--"):
            body.drain()
            return
        # Part headers end at an empty line.
        while b"\r\n\r\n" not in buf:
            if eof or len(buf) > MAX_HEADER_LINE:
                raise BadRequest("bad multipart part headers")
            fill()
        head, buf = buf.split(b"\r\n\r\n", 1)
        headers = {}
        for line in head.split(b"\r\n")[1:]:  # the first is the rest of the delimiter line
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        state = {"done": False}

        def data():
            nonlocal buf
            while True:
                i = buf.find(delim)
                if i >= 0:
                    chunk, buf = buf[:i], buf[i + len(delim):]
                    state["done"] = True
                    if chunk:
                        yield chunk
                    return
                if eof:
                    raise BadRequest("the body ended inside a part")
                keep = len(delim)
                if len(buf) > keep:
                    chunk, buf = buf[:-keep], buf[-keep:]
                    yield chunk
                fill()

        yield headers, data()
        if not state["done"]:
            raise BadRequest("a part was not read to its end")


def part_name(headers):
    m = re.search(r'name="([^"]*)"', headers.get("content-disposition", ""))
    return m.group(1) if m else None


class Store:
    """DIR/<uuid>/{metadata.json, core, receipt.json}, each report renamed into place whole."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.lock = threading.Lock()
        self.stats = {"posts": 0, "stored": 0, "repeats": 0, "rejected": 0, "scripted": 0}
        self.answers = []  # (time, status) of every POST /reports, the last 1000

    def answered(self, status, start):
        with self.lock:
            self.answers = self.answers[-999:] + [(time.time(), status, start)]

    def count(self, key):
        with self.lock:
            self.stats[key] += 1

    def receipt_of(self, uuid):
        try:
            with open(os.path.join(self.root, uuid, "receipt.json")) as f:
                return json.load(f)["receipt"]
        except FileNotFoundError:
            return None

    def commit(self, uuid, tmpdir, metadata):
        """Renames tmpdir to the report's place; returns (receipt, first time?)."""
        with self.lock:
            old = self.receipt_of(uuid)
            if old:
                shutil.rmtree(tmpdir, ignore_errors=True)
                self.stats["repeats"] += 1
                return old, False
            receipt = "vc-" + secrets.token_hex(8)
            with open(os.path.join(tmpdir, "receipt.json"), "w") as f:
                json.dump({"receipt": receipt, "uuid": uuid, "received": time.time()}, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmpdir, os.path.join(self.root, uuid))
            fd = os.open(self.root, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            self.stats["stored"] += 1
            return receipt, True

    def listing(self):
        out = []
        for name in sorted(os.listdir(self.root)):
            if not UUID_RE.match(name):
                continue
            d = os.path.join(self.root, name)
            try:
                with open(os.path.join(d, "receipt.json")) as f:
                    r = json.load(f)
                with open(os.path.join(d, "metadata.json")) as f:
                    m = json.load(f)
            except (OSError, ValueError):
                continue
            out.append({"uuid": name, "receipt": r["receipt"], "received": r["received"],
                        "sha256": m.get("sha256"), "vm": m.get("vm"), "trigger": m.get("trigger"),
                        "snapshot": m.get("snapshot"),
                        "core_bytes": os.path.getsize(os.path.join(d, "core"))})
        return out
