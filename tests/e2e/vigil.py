"""vigil.py: helpers for end-to-end tests: start the real hv, speak its control protocol."""
import json
import os
import socket
import struct
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("VIGIL_BUILD", "build")
GUESTS = ROOT / "build" / "guests"
HV = BUILD / "hv"
HVCTL = BUILD / "hvctl"

MAGIC = 0x4C544356
HEADER = struct.Struct("<IHHII")


def guest(name):
    return str(GUESTS / name)


def frame(obj, data=b"", kind=1, magic=MAGIC, version=1):
    body = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return HEADER.pack(magic, version, kind, len(body), len(data)) + body + data


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("hv closed the connection")
        buf += chunk
    return buf


def read_response(sock):
    magic, version, kind, jlen, dlen = HEADER.unpack(recv_exact(sock, HEADER.size))
    assert magic == MAGIC and version == 1 and kind == 2
    return json.loads(recv_exact(sock, jlen)), recv_exact(sock, dlen)


class Hv:
    """One running hv process with its control socket."""

    def __init__(self, tmp_path, args, stdin=subprocess.DEVNULL):
        self.sock_path = str(tmp_path / "hv.sock")
        self.log_path = tmp_path / "hv.log"
        self.log = open(self.log_path, "wb")
        self.state_dir = tmp_path / "state"
        self.proc = subprocess.Popen([str(HV), "--control", self.sock_path, "--state-dir", str(self.state_dir)] + args,
                                     stdin=stdin, stdout=self.log, stderr=subprocess.STDOUT)
        self.conn = None
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hv exited with {self.proc.returncode}: {self.output()}")
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock_path)
                self.conn = s
                break
            except OSError:
                time.sleep(0.02)
        assert self.conn, "hv's control socket never appeared"

    def output(self):
        self.log.flush()
        return self.log_path.read_bytes().decode(errors="replace")

    def call(self, op, data=b"", **fields):
        self.conn.sendall(frame(dict(op=op, **fields), data))
        resp, payload = read_response(self.conn)
        return (resp, payload) if op == "console.read" else resp

    def ok(self, op, **fields):
        resp = self.call(op, **fields)
        assert resp["ok"], resp
        return resp

    def status(self):
        return self.ok("status")

    def vm(self, name):
        return next(v for v in self.status()["vms"] if v["name"] == name)

    def console(self, vm):
        resp, data = self.call("console.read", vm=vm, offset=0)
        assert resp["ok"], resp
        return data.decode(errors="replace")

    def type(self, vm, text):
        self.ok("console.write", vm=vm, text=text)

    def wait_for(self, predicate, timeout=10, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"hv exited ({self.proc.returncode}) waiting for {what}:\n{self.output()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}:\n{self.output()}")

    def wait_console(self, vm, text, timeout=10):
        return self.wait_for(lambda: text in self.console(vm), timeout, f"'{text}' on {vm}'s console")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except (OSError, ConnectionError, AssertionError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.conn:
            self.conn.close()
        self.log.close()
        return self.proc.returncode


def run_alone(tmp_path, image, *args, timeout=60):
    """Runs one guest in devirtualized mode to completion; returns (exit status, output)."""
    p = subprocess.run([str(HV), "--control", str(tmp_path / "alone.sock"), "--state-dir", str(tmp_path / "state"),
                        "--no-service", "--guest", image,
                        *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
