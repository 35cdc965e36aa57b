#!/usr/bin/env python3
"""svcchan.py: benchmark of the service channel's bulk path: snapshot.read MB/s into the service VM.

Runs the real hv with the svcos self-test as its service VM (`--mode svcchan`) beside the demo
guest: the self-test snapshots the guest, reads the core back through SVC_CALL in 4 MiB chunks
(once hashing it with SHA-256, then the best of three plain passes) and prints its rates. For
context, this script then reads the same core over hv's Unix control socket in the same chunks.
Prints a table and one BENCH JSON line. Needs `make all` (with the svcos sysroot).
"""
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platform_info

ROOT = Path(__file__).resolve().parents[1]
HV = ROOT / "build" / "hv"
IMAGE = ROOT / "build" / "svcos" / "selftest.elf"
DEMO = ROOT / "build" / "guests" / "demo.elf"
HEADER = struct.Struct("<IHHII")
CHUNK = 4 << 20


def request(sock, obj):
    body = json.dumps(obj).encode()
    sock.sendall(HEADER.pack(0x4C544356, 1, 1, len(body), 0) + body)
    head = recv_exact(sock, HEADER.size)
    _, _, _, jlen, dlen = HEADER.unpack(head)
    resp = json.loads(recv_exact(sock, jlen))
    return resp, recv_exact(sock, dlen)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("hv closed the connection")
        buf += chunk
    return bytes(buf)


def socket_rate(sock, snap_id, size):
    """Best of three passes reading the core over the Unix socket, MB/s."""
    best = 0.0
    for _ in range(3):
        t0, off = time.perf_counter(), 0
        while off < size:
            resp, data = request(sock, {"op": "snapshot.read", "id": snap_id, "offset": off, "len": CHUNK})
            assert resp["ok"], resp
            off += len(data)
        best = max(best, size / 1e6 / (time.perf_counter() - t0))
    return best


def main():
    if not IMAGE.exists():
        sys.exit(f"{IMAGE} is missing: make all (the svcos sysroot is needed)")
    with tempfile.TemporaryDirectory() as tmp:
        sock_path = os.path.join(tmp, "hv.sock")
        log = open(os.path.join(tmp, "hv.log"), "w+")
        hv = subprocess.Popen([str(HV), "--control", sock_path, "--state-dir", os.path.join(tmp, "state"),
                               "--service", str(IMAGE), "--mem", "128", "--cmdline", "--bench 3 --mode svcchan",
                               "--guest", str(DEMO), "--mem", "256"],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline, res = time.time() + 300, None
            while time.time() < deadline and res is None and hv.poll() is None:
                time.sleep(0.2)
                log.seek(0)
                for line in log.read().splitlines():
                    if line.startswith("SVCCHAN "):
                        res = json.loads(line[len("SVCCHAN "):])
            if not res or not res.get("ok"):
                log.seek(0)
                sys.exit(f"the self-test did not pass:\n{log.read()[-4000:]}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock_path)
            snap = request(s, {"op": "snapshot.list"})[0]["snapshots"][-1]
            size = res["snapshot_bytes"]
            unix = socket_rate(s, snap["id"], size)
            request(s, {"op": "quit"})
            s.close()
        finally:
            try:
                hv.wait(10)
            except subprocess.TimeoutExpired:
                hv.kill()
    out = {"machine": platform_info.describe(), "core_bytes": size, "chunk_bytes": CHUNK,
           "channel_read_mb_per_s": round(res["read_mb_per_s"], 1),
           "channel_read_sha256_mb_per_s": round(res["read_hash_mb_per_s"], 1),
           "unix_socket_read_mb_per_s": round(unix, 1)}
    print(f"snapshot.read of a {size >> 20} MiB core in {CHUNK >> 20} MiB chunks (MB/s)")
    print(f"{'service channel, into the service VM':44} {out['channel_read_mb_per_s']:10.1f}")
    print(f"{'  ... hashing it (SHA-256) in the VM':44} {out['channel_read_sha256_mb_per_s']:10.1f}")
    print(f"{'Unix control socket, into Python (context)':44} {out['unix_socket_read_mb_per_s']:10.1f}")
    print("BENCH " + json.dumps({"svcchan": out}, sort_keys=True))


if __name__ == "__main__":
    main()
