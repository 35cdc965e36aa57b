#!/usr/bin/env python3
"""bench/snapshot.py: event -> frozen latency and crash-snapshot capture time, against QEMU's dump-guest-memory.

Not a test: prints a table and a JSON result (build/bench/snapshot.json).
  event -> frozen : a write to a protected page (policy write_protected=freeze) until every vCPU is parked
                    with its state captured (hv's own trap_freeze statistic), over --traps events
  durable core    : the core file written (sparse) and fsync'ed (store timings: dump + fsync)
  complete        : ... plus SHA-256 of the core and the metadata written, renamed and fsync'ed
  QEMU            : `dump-guest-memory` (QMP, paging=false) of an idle guest of the same size, plus fsync
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platform_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from vigil import Hv, guest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def hv_capture(tmp, mib, dense):
    d = Path(tempfile.mkdtemp(dir=tmp))
    hv = Hv(d, ["--no-service", "--guest", guest("demo.elf"), "--mem", str(mib), "--cmdline", "heartbeat_ms=0"])
    try:
        hv.wait_console("guest", "demo>")
        if dense:
            hv.type("guest", f"fill {mib}\n")
            hv.wait_console("guest", "fill: ", timeout=600)
        else:
            hv.type("guest", f"fill {max(1, mib // 100)}\n")  # mostly empty: ~1% touched
            hv.wait_console("guest", "fill: ", timeout=60)
        resp = hv.snapshot("guest", timeout=600)
        snap = resp["snapshot"]
        t = snap.get("timing", {})
        return {"frozen_us": resp["frozen_us"], "core_bytes": snap["core_bytes"],
                "on_disk_bytes": snap["core_allocated_bytes"],
                "durable_s": t.get("dump_s", 0) + t.get("fsync_s", 0),
                "complete_s": t.get("total_s", 0), "hash_s": t.get("hash_s", 0)}
    finally:
        hv.stop()
        shutil.rmtree(d, ignore_errors=True)


def trap_latency(tmp, count):
    d = Path(tempfile.mkdtemp(dir=tmp))
    pol = d / "policy.json"
    pol.write_text('{"protected": [{"gpa": "0x100000", "len": 4096}], "events": {"write_protected": "freeze"}}')
    hv = Hv(d, ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest",
                "--policy", str(pol), "--snapshot-keep", "1", "--mem", "64"])
    try:
        hv.wait_console("guest", "demo>")
        hv.ok("stats", reset=True)
        for i in range(count):
            hv.type("guest", "crash write\n")
            hv.wait_for(lambda: hv.vm("guest")["state"] == "frozen", what="trap freeze")
            # the snapshot writer must finish before the guest may run again
            deadline = time.time() + 30
            while not hv.call("switch", target="guest")["ok"] and time.time() < deadline:
                time.sleep(0.01)
        return hv.ok("stats")["trap_freeze"]
    finally:
        hv.stop()
        shutil.rmtree(d, ignore_errors=True)


def qmp(sock, cmd, **args):
    sock.sendall(json.dumps({"execute": cmd, "arguments": args} if args else {"execute": cmd}).encode())
    buf = b""
    while True:
        buf += sock.recv(65536)
        for line in buf.split(b"\n"):
            if line.strip():
                msg = json.loads(line)
                if "return" in msg or "error" in msg:
                    return msg
        buf = buf[buf.rfind(b"\n") + 1:] if b"\n" in buf else buf


def qemu_dump(tmp, mib):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None
    d = Path(tempfile.mkdtemp(dir=tmp))
    qs = d / "qmp.sock"
    p = subprocess.Popen([qemu, "-accel", "kvm", "-machine", "q35", "-m", str(mib), "-nodefaults", "-display", "none",
                          "-qmp", f"unix:{qs},server=on,wait=off", "-S"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if qs.exists():
                break
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(qs))
        s.recv(65536)
        qmp(s, "qmp_capabilities")
        out = d / "qemu.core"
        t0 = time.perf_counter()
        r = qmp(s, "dump-guest-memory", paging=False, protocol=f"file:{out}")
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        dt = time.perf_counter() - t0
        return {"seconds": dt, "ok": "return" in r, "bytes": out.stat().st_size}
    finally:
        p.kill()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,1024,4096", help="guest sizes in MiB")
    ap.add_argument("--traps", type=int, default=50)
    ap.add_argument("--dir", default=os.environ.get("VIGIL_SCRATCH"),
                    help="where cores are written: a real disk, since durability is measured "
                         "(default: $VIGIL_SCRATCH, the nested machine's scratch disk, else a folder in /var/tmp)")
    a = ap.parse_args()
    # Not under build/: hv's control socket lives beside the cores, and 9p (the nested machine's
    # view of the work tree) cannot hold a Unix socket.
    tmp = Path(a.dir or tempfile.mkdtemp(prefix="vigil-bench-", dir="/var/tmp"))
    tmp.mkdir(parents=True, exist_ok=True)
    result = {"machine": platform_info.describe(), "cores_dir": str(tmp),
              "trap_freeze": trap_latency(tmp, a.traps), "capture": [], "qemu": []}
    for mib in [int(x) for x in a.sizes.split(",")]:
        for dense in (True, False):
            r = hv_capture(tmp, mib, dense)
            r.update(mib=mib, shape="dense" if dense else "mostly empty")
            result["capture"].append(r)
        q = qemu_dump(tmp, mib)
        if q:
            q["mib"] = mib
            result["qemu"].append(q)
    tf = result["trap_freeze"]
    print(f"\nevent -> frozen (write to a protected page, {tf['count']} traps): "
          f"p50 {tf['p50_us']:.0f} us, p99 {tf['p99_us']:.0f} us, max {tf['max_us']:.0f} us  (target <= 1000 us)")
    print(f"\n{'guest':>8} {'shape':>13} {'on disk':>9} {'frozen':>8} {'durable':>9} {'+sha256':>9} {'QEMU dump':>10} {'ratio':>6}")
    qemu = {q["mib"]: q for q in result["qemu"]}
    for r in result["capture"]:
        q = qemu.get(r["mib"])
        ratio = f"{q['seconds'] / r['durable_s']:.1f}x" if q and r["durable_s"] else "-"
        print(f"{r['mib']:>6}Mi {r['shape']:>13} {r['on_disk_bytes'] / 2**20:>7.0f}Mi {r['frozen_us']:>6}us "
              f"{r['durable_s']:>8.3f}s {r['complete_s']:>8.3f}s {q['seconds'] if q else float('nan'):>9.3f}s {ratio:>6}")
    print("targets: frozen <= 1 ms; dense 1 GiB durable <= 0.8 s; mostly-empty 4 GiB <= 0.2 s")
    out = ROOT / "build" / "bench" / "snapshot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
