"""vigil.py: helpers for end-to-end tests: start the real hv, speak its control protocol."""
import hashlib
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



def _measure_slowdown():
    """How many times slower than a native host this machine runs hv's work: about 1 on real KVM
    (and on PVM), 10-40 in the nested machine under QEMU's TCG.  Timeouts scale with it, so no
    test asserts a wall-clock bound that an emulated CPU can miss.  VIGIL_TEST_SLOWDOWN overrides."""
    if os.environ.get("VIGIL_TEST_SLOWDOWN"):
        return max(1.0, float(os.environ["VIGIL_TEST_SLOWDOWN"]))
    data = bytes(8 << 20)
    best = min(_timed(lambda: hashlib.sha256(data).digest()) for _ in range(3))
    # SHA-256 over 8 MiB takes about 10-20 ms natively; it is what a crash snapshot costs most.
    return min(60.0, max(1.0, best / 0.02))


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


SLOWDOWN = _measure_slowdown()


def scaled(seconds):
    """A deadline of `seconds` on a native host, stretched for this machine's speed."""
    return seconds * SLOWDOWN


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

    def __init__(self, tmp_path, args, stdin=subprocess.DEVNULL, prefix=(), env=None):
        """prefix: a command hv runs under (e.g. unshare -n), which must exec it; env: its
        environment (default: this process's)."""
        self.sock_path = str(tmp_path / "hv.sock")
        self.log_path = tmp_path / "hv.log"
        self.log = open(self.log_path, "wb")
        self.state_dir = tmp_path / "state"
        self.proc = subprocess.Popen([*prefix, str(HV), "--control", self.sock_path, "--state-dir",
                                      str(self.state_dir)] + args,
                                     stdin=stdin, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.conn = None
        deadline = time.time() + scaled(10)
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

    def connect(self):
        """A second control connection: requests on it are not queued behind this one's."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock_path)
        return s

    def wait_job(self, job_id, timeout=60):
        """Polls the job until it has finished; returns it (state done or failed)."""
        def finished():
            job = self.ok("job", id=job_id)["job"]
            return job if job["state"] != "running" else None
        return self.wait_for(finished, timeout, f"job {job_id}")

    def snapshot(self, vm, timeout=60):
        """snapshot.take, then the wait `hvctl snapshot take` does: the take's answer with the
        finished snapshot's metadata added (as "snapshot")."""
        resp = self.ok("snapshot.take", vm=vm)
        job = self.wait_job(resp["job"]["id"], timeout)
        assert job["state"] == "done", job
        return dict(resp, snapshot=job["snapshot"])

    def vm(self, name):
        return next(v for v in self.status()["vms"] if v["name"] == name)

    def console(self, vm):
        resp, data = self.call("console.read", vm=vm, offset=0)
        assert resp["ok"], resp
        return data.decode(errors="replace")

    def type(self, vm, text):
        self.ok("console.write", vm=vm, text=text)

    def wait_for(self, predicate, timeout=10, what="condition"):
        """Polls until predicate() is true; timeout is in native seconds (see scaled())."""
        deadline = time.time() + scaled(timeout)
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
                self.proc.wait(scaled(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.conn:
            self.conn.close()
        self.log.close()
        return self.proc.returncode


def kickcheck_env(tmp_path):
    """The environment for an hv under kickcheck.so (built here): it aborts hv if a vCPU kick
    reaches a joined thread, and delays every kick by 2 ms, widening the races around them."""
    shim = tmp_path / "kickcheck.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(Path(__file__).with_name("kickcheck.c")),
                    "-ldl", "-lpthread"], check=True)
    asan = os.environ.get("ASAN_OPTIONS", "")
    return dict(os.environ, LD_PRELOAD=str(shim), ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")


def run_alone(tmp_path, image, *args, timeout=60):
    """Runs one guest in devirtualized mode to completion; returns (exit status, output)."""
    p = subprocess.run([str(HV), "--control", str(tmp_path / "alone.sock"), "--state-dir", str(tmp_path / "state"),
                        "--no-service", "--guest", image,
                        *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=scaled(timeout))
    return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
