#!/usr/bin/env python3
"""bench/snapshot.py: event -> frozen latency and crash-snapshot capture time, against QEMU's dump-guest-memory.

Not a test: prints a table per storage medium and a JSON result (build/bench/snapshot.json).
  event -> frozen : a write to a protected page (policy write_protected=freeze) until every vCPU is parked
                    with its state captured (hv's own trap_freeze statistic), over --traps events
  durable         : hv's snapshot until its core and its metadata are durable, i.e. listed and fsync'ed
                    (the metadata's timing.durable_s; older metadata: dump_s + fsync_s)
  +sha256         : ... until the SHA-256 of the core is in the metadata too (timing.total_s); the digest
                    may be computed after the snapshot is durable, and this waits for it
  QEMU            : `dump-guest-memory` (QMP, paging=false) of an idle guest of the same size into the same
                    folder, plus an fsync of its file (QEMU's dump alone is not durable), timed apart
  floor           : the medium's own cost for the dense data: a new file, written with one pwrite per 64 MiB
                    from a dense anonymous mapping (O_DIRECT where the file system allows it), then fsync
Every medium (--dirs; default: a tmpfs folder and the scratch disk) gets the same runs, so each ratio
compares hv and QEMU on the same file system in the same run.
"""
import argparse
import json
import mmap
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platform_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from vigil import Hv, guest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PENDING = "pending"


def fs_type(path):
    """The file system type of the mount holding path, from /proc/mounts (longest mount point)."""
    path, best, kind = os.path.realpath(path), "", "?"
    try:
        for line in open("/proc/mounts"):
            f = line.split()
            mnt = f[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, f[2]
    except OSError:
        pass
    return kind


def default_dirs():
    """A tmpfs folder and a real disk: $VIGIL_SCRATCH (the nested machine's ext4 scratch disk), else /var/tmp."""
    out = []
    tmpfs = next((d for d in ("/tmp", "/dev/shm", "/run") if fs_type(d) == "tmpfs" and os.access(d, os.W_OK)), None)
    if tmpfs:
        out.append(tmpfs)
    disk = os.environ.get("VIGIL_SCRATCH") or "/var/tmp"
    if fs_type(disk) != "tmpfs":
        out.append(disk)
    return out


def warm_memory(dirs, mib):
    """Writes and deletes mib MiB in a tmpfs folder, so that neither hv nor QEMU pays for the machine's first
    touch of its RAM.  In the nested machine QEMU backs the machine's RAM lazily: the first write to each page
    costs ~15 us there (a tmpfs write of fresh pages ran at a quarter of the speed of recycled ones), and
    whichever side of the comparison ran first used to pay it."""
    d = next((d for d in dirs if fs_type(d) == "tmpfs"), "/dev/shm" if fs_type("/dev/shm") == "tmpfs" else None)
    if not d or mib <= 0:
        return None
    try:
        avail = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemAvailable:"))
        mib = min(mib, avail // 1024 * 2 // 5)
    except (OSError, StopIteration):
        pass
    t0 = time.perf_counter()
    block = b"\1" * (1 << 20)
    fd, path = tempfile.mkstemp(dir=d, prefix="warm-")
    try:
        for _ in range(mib):
            os.write(fd, block)
    except OSError:
        pass
    finally:
        os.close(fd)
        os.unlink(path)
    return {"dir": d, "mib": mib, "seconds": round(time.perf_counter() - t0, 3)}


def wait_digest(hv, sid, timeout):
    """Polls snapshot.show until the digest is no longer pending; returns the metadata."""
    deadline = time.time() + timeout
    while True:
        meta = hv.ok("snapshot.show", id=sid)["snapshot"]
        if meta.get("sha256") != PENDING or time.time() > deadline:
            return meta
        time.sleep(0.1)


def durable_s(timing):
    return timing["durable_s"] if "durable_s" in timing else timing.get("dump_s", 0) + timing.get("fsync_s", 0)


class HvGuest:
    """hv with the demo guest filled dense (all of RAM) or mostly empty (~1 % touched)."""

    def __init__(self, tmp, mib, dense):
        self.mib, self.dense, self.runs = mib, dense, []
        self.dir = Path(tempfile.mkdtemp(dir=tmp))
        self.hv = Hv(self.dir, ["--no-service", "--guest", guest("demo.elf"), "--mem", str(mib),
                                "--cmdline", "heartbeat_ms=0", "--snapshot-keep", "1"])
        try:
            self.hv.wait_console("guest", "demo>")
            self.hv.type("guest", f"fill {mib if dense else max(1, mib // 100)}\n")
            self.hv.wait_console("guest", "fill: ", timeout=600 if dense else 60)
        except BaseException:
            self.close()
            raise

    def take(self):
        """One snapshot; returns once its digest is written too, so nothing hashes during the next
        measurement (of hv or of QEMU)."""
        resp = self.hv.ok("snapshot.take", vm="guest")
        if "job" in resp:  # hv answers at once and writes meanwhile; older builds answered when done
            job = self.hv.wait_job(resp["job"]["id"], timeout=max(600, self.mib))
            assert job["state"] == "done", job
            resp = dict(resp, snapshot=job["snapshot"])
        snap = resp["snapshot"]
        durable = durable_s(snap.get("timing", {}))
        meta = wait_digest(self.hv, snap["id"], timeout=max(600, self.mib * 2))
        t = meta.get("timing", {})
        self.runs.append({"frozen_us": resp["frozen_us"], "core_bytes": meta["core_bytes"],
                          "on_disk_bytes": meta["core_allocated_bytes"], "durable_s": durable,
                          "complete_s": t.get("total_s", 0), "hash_s": t.get("hash_s", 0),
                          "digest": "ok" if meta.get("sha256") != PENDING else "still pending", "timing": t,
                          "coredump": meta.get("coredump", {})})

    def result(self):
        return {"runs": self.runs, "durable_s": statistics.median(r["durable_s"] for r in self.runs),
                "complete_s": statistics.median(r["complete_s"] for r in self.runs),
                "mib": self.mib, "shape": "dense" if self.dense else "mostly empty",
                **{k: self.runs[-1][k] for k in ("frozen_us", "core_bytes", "on_disk_bytes")}}

    def close(self):
        self.hv.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


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
            # ... and its digest too: the next freeze is measured without a hash running beside it
            for s in hv.ok("snapshot.list")["snapshots"]:
                wait_digest(hv, s["id"], timeout=120)
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


class Qemu:
    """An idle QEMU guest of the same size; dump() is `dump-guest-memory` then an fsync of the file:
    QEMU returns before its data is durable."""

    def __init__(self, tmp, mib):
        self.mib, self.runs = mib, []
        self.dir = Path(tempfile.mkdtemp(dir=tmp))
        qs = self.dir / "qmp.sock"
        self.p = subprocess.Popen([shutil.which("qemu-system-x86_64"), "-accel", "kvm", "-machine", "q35",
                                   "-m", str(mib), "-nodefaults", "-display", "none",
                                   "-qmp", f"unix:{qs},server=on,wait=off", "-S"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            if qs.exists():
                break
            time.sleep(0.05)
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(str(qs))
        self.s.recv(65536)
        qmp(self.s, "qmp_capabilities")

    def dump(self):
        out = self.dir / "qemu.core"
        t0 = time.perf_counter()
        r = qmp(self.s, "dump-guest-memory", paging=False, protocol=f"file:{out}")
        t1 = time.perf_counter()
        fd = os.open(out, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        t2 = time.perf_counter()
        self.runs.append({"dump_s": t1 - t0, "fsync_s": t2 - t1, "seconds": t2 - t0, "ok": "return" in r,
                          "bytes": out.stat().st_size, "on_disk_bytes": out.stat().st_blocks * 512})
        out.unlink()

    def result(self):
        return {"runs": self.runs, "mib": self.mib, "ok": all(r["ok"] for r in self.runs),
                **{k: statistics.median(r[k] for r in self.runs) for k in ("seconds", "dump_s", "fsync_s")}}

    def close(self):
        self.p.kill()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Floor:
    """What any writer pays the medium for mib MiB of dense data: pwrite from a shared anonymous mapping
    (as guest RAM is mapped) into a new file, 64 MiB per call, O_DIRECT where allowed, then fsync."""

    def __init__(self, tmp, mib):
        self.tmp, self.len, self.runs = tmp, (mib - 4) << 20, []
        self.mem = mmap.mmap(-1, self.len)
        block = bytes(range(1, 256)) * 4113
        for off in range(0, self.len, 1 << 20):
            self.mem[off:off + (1 << 20)] = block[:1 << 20]

    def write(self):
        path = Path(self.tmp) / f"floor.{os.getpid()}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        try:
            fd = os.open(path, flags | os.O_DIRECT, 0o600)
        except OSError:
            fd = os.open(path, flags, 0o600)  # tmpfs before Linux 6.6
        view = memoryview(self.mem)
        t0 = time.perf_counter()
        for off in range(0, self.len, 64 << 20):
            os.pwrite(fd, view[off:off + (64 << 20)], off + 4096)
        t1 = time.perf_counter()
        os.fsync(fd)
        t2 = time.perf_counter()
        os.close(fd)
        view.release()
        path.unlink()
        self.runs.append({"write_s": t1 - t0, "fsync_s": t2 - t1, "seconds": t2 - t0})

    def result(self):
        return {"runs": self.runs, "bytes": self.len, "seconds": statistics.median(r["seconds"] for r in self.runs)}

    def close(self):
        self.mem.close()


def measure(tmp, mib, repeat, with_qemu):
    """hv (dense, then mostly empty) and QEMU take turns, so that a change in the machine's load (the
    nested machine shares two host CPUs with other work) hits both sides alike."""
    caps, q, f = [], Qemu(tmp, mib) if with_qemu else None, Floor(tmp, mib)
    try:
        for dense in (True, False):
            h = HvGuest(tmp, mib, dense)
            try:
                for i in range(repeat):
                    h.take()
                    if dense:
                        f.write()
                    if q and (dense or i >= len(q.runs)):
                        q.dump()
            finally:
                h.close()
            caps.append(h.result())
        return caps, q.result() if q else None, f.result()
    finally:
        f.close()
        if q:
            q.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="256,1024,4096", help="guest sizes in MiB")
    ap.add_argument("--traps", type=int, default=50)
    ap.add_argument("--dirs", help="comma-separated folders to write cores in, one run each (default: a tmpfs "
                                   "folder and $VIGIL_SCRATCH, the nested machine's ext4 scratch disk, else /var/tmp)")
    ap.add_argument("--dir", help="one folder only (same as --dirs DIR)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="snapshots per guest (and QEMU dumps, taking turns with the dense ones); the tables "
                         "show medians")
    ap.add_argument("--no-warm", action="store_true", help="skip warming the machine's memory first")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    # Not under build/: hv's control socket lives beside the cores, and 9p (the nested machine's
    # view of the work tree) cannot hold a Unix socket.
    dirs = [x for x in (a.dirs or a.dir or "").split(",") if x] or default_dirs()
    media = []
    for x in dirs:
        Path(x).mkdir(parents=True, exist_ok=True)
        media.append({"dir": x, "fs": fs_type(x)})
    result = {"machine": platform_info.describe(), "media": media, "repeat": a.repeat,
              "warm": None if a.no_warm else warm_memory(dirs, 3 * max(sizes))}
    result["trap_freeze"] = trap_latency(dirs[0], a.traps) if a.traps > 0 else None
    with_qemu = shutil.which("qemu-system-x86_64") is not None
    for m in media:
        m["capture"], m["qemu"], m["floor"] = [], [], []
        for mib in sizes:
            caps, q, f = measure(m["dir"], mib, a.repeat, with_qemu)
            m["capture"] += caps
            f["mib"] = mib
            m["floor"].append(f)
            if q:
                m["qemu"].append(q)
    tf = result["trap_freeze"]
    if tf:
        print(f"\nevent -> frozen (write to a protected page, {tf['count']} traps): "
              f"p50 {tf['p50_us']:.0f} us, p99 {tf['p99_us']:.0f} us, max {tf['max_us']:.0f} us  (target <= 1000 us)")
    for m in media:
        print(f"\ncores in {m['dir']} ({m['fs']}), median of {a.repeat}; ratio = QEMU (dump + fsync) / hv durable; "
              f"floor = the same dense data written plainly")
        print(f"{'guest':>8} {'shape':>13} {'on disk':>9} {'frozen':>8} {'durable':>9} {'+sha256':>9} "
              f"{'QEMU dump':>10} {'+fsync':>8} {'ratio':>7} {'floor':>8}")
        qemu = {q["mib"]: q for q in m["qemu"]}
        floor = {f["mib"]: f for f in m["floor"]}
        for r in m["capture"]:
            q = qemu.get(r["mib"])
            r["ratio"] = q["seconds"] / r["durable_s"] if q and r["durable_s"] else None
            ratio = f"{r['ratio']:.1f}x" if r["ratio"] else "-"
            print(f"{r['mib']:>6}Mi {r['shape']:>13} {r['on_disk_bytes'] / 2**20:>7.0f}Mi {r['frozen_us']:>6}us "
                  f"{r['durable_s']:>8.3f}s {r['complete_s']:>8.3f}s "
                  f"{q['dump_s'] if q else float('nan'):>9.3f}s {q['fsync_s'] if q else float('nan'):>7.3f}s "
                  f"{ratio:>7} " + (f"{floor[r['mib']]['seconds']:>7.3f}s" if r["shape"] == "dense" else ""))
    print("goals: dense >= 4x QEMU (dump + fsync), mostly empty >= 20x, on each medium; frozen p50 <= 1 ms")
    out = ROOT / "build" / "bench" / "snapshot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
