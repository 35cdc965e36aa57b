#!/usr/bin/env python3
"""linux_boots.py: boots Debian's kernel N times as a guest and counts booted / deadlocked / slow.

    VIGIL_KVM=vm scripts/vigil-kvm -- python3 bench/linux_boots.py --guest hv -n 15
    VIGIL_KVM=vm scripts/vigil-kvm -- python3 bench/linux_boots.py --guest qemu -n 10

The guest is hv (`build/hv --kernel`, as tests/e2e/test_linux.py boots it) or QEMU `-accel kvm`
with the same kernel and busybox initramfs (tests/e2e/linux_guest.py).  A boot counts as booted
when /init's marker reaches the console.  Every --look seconds until then the vCPU is looked at
three times, 3 s apart (hv: pause + regs; QEMU: its monitor's `info registers`): RFLAGS.IF
clear all three times with RIP in a spin-lock slow path, or in one same function, is a deadlock
(docs/linux-guest.md: an interrupt delivered twice); a kernel panic on the console is counted
apart, and so is a guest that exits or will not say where it is (gone); a boot neither booted
nor deadlocked after --timeout is slow, with where it was.  Prints a table and one BENCH JSON
line.  Where KVM runs natively every boot should pass; the nested machine is where this
measures something.
"""
import argparse
import bisect
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platform_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests" / "e2e"))
from linux_guest import MARKER, build_initramfs, guest_modules, kernel_path, map_symbols, system_map  # noqa: E402

# What tests/e2e/test_linux.py boots with.
APPEND = "console=ttyS0 nokaslr quiet cryptomgr.notests mitigations=off"
SPIN = ("native_queued_spin_lock_slowpath", "__pv_queued_spin_lock_slowpath", "queued_spin_lock_slowpath")


class Symbols:
    """Kernel addresses to names, from a System.map (nokaslr: the map's addresses are the guest's)."""

    def __init__(self, path):
        text = sorted((a, n) for a, t, n in map_symbols(path) if t in "tTwW") if path else []
        self.addrs = [a for a, _ in text]
        self.names = [n for _, n in text]

    def name(self, addr):
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0 or addr < 0xffffffff80000000:
            return f"{addr:#x}"
        return f"{self.names[i]}+{addr - self.addrs[i]:#x}"


def classify(samples, syms):
    """samples: [(rip, rflags)] taken 3 s apart.  A deadlock spins with IF clear: in a lock slow
    path, or anywhere in one function every time (a seqcount read loop whose writer the second
    interrupt cut off, seen once as ktime_get_update_offsets_now)."""
    names = [syms.name(rip) for rip, _ in samples]
    funcs = {n.split("+")[0] for n in names}
    irqs_off = not any(fl & 0x200 for _, fl in samples)
    stuck = irqs_off and (funcs <= set(SPIN) or len(funcs) == 1)
    return ("deadlocked" if stuck else "slow"), names, [f"{fl:#x}" for _, fl in samples]


class GuestGone(Exception):
    """The guest's process went away, or would not say where its vCPU is."""


class HvGuest:
    def __init__(self, args, kernel, initrd, work):
        from vigil import Hv  # noqa: E402 (tests/e2e: starts hv with a control socket)
        self.hv = Hv(work, ["--no-service", "--kernel", str(kernel), "--initrd", str(initrd),
                            "--append", args.append, "--mem", "128", *args.hv_arg])

    def console(self):
        return self.hv.console("guest")

    def sample(self):
        self.hv.ok("pause", vm="guest")
        r = self.hv.ok("regs", vm="guest")["vcpus"][0]
        self.hv.ok("resume", vm="guest")
        return r["rip"] & 0xffffffffffffffff, r["rflags"]

    def stop(self):
        self.hv.stop()


class QemuGuest:
    def __init__(self, args, kernel, initrd, work):
        self.log = work / "console.log"
        self.mon_path = str(work / "mon.sock")
        # xsave=off as hv hides XSAVE (docs/linux-guest.md): with it busybox's init dies at its first signal.
        self.proc = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host,xsave=off", "-m", "256", "-smp", "1", "-nodefaults",
             "-display", "none", "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
             "-append", args.append, "-serial", f"file:{self.log}",
             "-monitor", f"unix:{self.mon_path},server,nowait", *args.qemu_arg],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(work / "qemu.err", "wb"))

    def console(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def monitor(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(self.mon_path)
        buf = b""
        while not buf.endswith(b"(qemu) "):
            buf += s.recv(65536)
        s.sendall(cmd.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"(qemu) "):
            buf += s.recv(65536)
        s.close()
        return buf.decode(errors="replace")

    def sample(self):
        if self.proc.poll() is not None:
            raise GuestGone(f"QEMU exited with {self.proc.returncode}")
        out = self.monitor("info registers")
        if "RIP=" not in out:
            raise GuestGone(f"no registers from QEMU's monitor: {out.strip()[-100:]!r}")
        rip = int(out.split("RIP=")[1].split()[0], 16)
        rfl = int(out.split("RFL=")[1].split()[0], 16)
        return rip, rfl

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def one_boot(args, kernel, initrd, syms, work):
    t0 = time.monotonic()
    g = (HvGuest if args.guest == "hv" else QemuGuest)(args, kernel, initrd, work)
    try:
        next_look = t0 + args.look
        while True:
            text = g.console()
            now = time.monotonic()
            if MARKER in text:
                line = next(l for l in text.splitlines() if MARKER in l)
                uptime = float(line.split("uptime=")[1].split()[0]) if "uptime=" in line else None
                return {"outcome": "booted", "wall_s": round(now - t0, 1), "uptime_s": uptime}
            if "Kernel panic" in text:
                tail = text[text.index("Kernel panic"):].splitlines()[0]
                return {"outcome": "panicked", "wall_s": round(now - t0, 1), "console_tail": tail[:120]}
            timed_out = now - t0 > args.timeout
            if now >= next_look or timed_out:
                samples = []
                try:
                    for k in range(3):
                        time.sleep(0 if k == 0 else 3)
                        samples.append(g.sample())
                except GuestGone as e:
                    return {"outcome": "gone", "wall_s": round(now - t0, 1), "why": str(e)}
                outcome, where, flags = classify(samples, syms)
                if outcome == "deadlocked" or timed_out:
                    tail = [l for l in text.splitlines() if l.strip()][-1:] or [""]
                    return {"outcome": outcome, "wall_s": round(now - t0, 1), "where": where, "rflags": flags,
                            "console_tail": tail[0][-100:]}
                next_look = time.monotonic() + args.look
            time.sleep(0.5)
    finally:
        g.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--guest", choices=("hv", "qemu"), default="hv")
    ap.add_argument("-n", type=int, default=10, help="boots (default 10)")
    ap.add_argument("--append", default=APPEND, help=f"kernel command line (default: {APPEND!r})")
    ap.add_argument("--extra", default="", help="appended to the kernel command line")
    ap.add_argument("--look", type=float, default=40, help="seconds between looks at the vCPU (default 40)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds a boot may take (default 240)")
    ap.add_argument("--hv-arg", action="append", default=[], help="an extra hv option (repeatable)")
    ap.add_argument("--qemu-arg", action="append", default=[], help="an extra QEMU option (repeatable)")
    ap.add_argument("--label", default="", help="the variant's name in the output")
    args = ap.parse_args()
    args.append = (args.append + " " + args.extra).strip()
    kernel = kernel_path()
    if kernel is None:
        sys.exit("no Debian kernel: scripts/kvm-machine/build.sh could not fetch linux-image-amd64")
    results = []
    with tempfile.TemporaryDirectory(prefix="linux-boots.") as tmp:
        tmp = Path(tmp)
        initrd = build_initramfs(tmp / "initrd.cpio", guest_modules(kernel))
        syms = Symbols(system_map(kernel, tmp / "System.map"))
        for i in range(args.n):
            work = tmp / f"boot{i}"
            work.mkdir()
            r = one_boot(args, kernel, initrd, syms, work)
            results.append(r)
            print(f"boot {i + 1}/{args.n}: {json.dumps(r)}", file=sys.stderr, flush=True)
    count = {k: sum(r["outcome"] == k for r in results) for k in ("booted", "deadlocked", "slow", "panicked", "gone")}
    walls = [r["wall_s"] for r in results if r["outcome"] == "booted"]
    summary = {"bench": "linux_boots", "guest": args.guest, "label": args.label, "append": args.append,
               "hv_args": args.hv_arg, "qemu_args": args.qemu_arg, "boots": len(results), **count,
               "median_boot_s": statistics.median(walls) if walls else None,
               "machine": {"cpu_model": os.environ.get("VIGIL_KVM_CPU", "default"),
                           "kvm_amd": kvm_amd_params()},
               "platform": platform_info.describe(), "runs": results}
    print(f"{'variant':30} {'boots':>5} {'booted':>6} {'deadlk':>6} {'slow':>5} {'panic':>5} {'gone':>4} {'median s':>8}")
    print(f"{(args.label or args.guest):30} {len(results):5} {count['booted']:6} {count['deadlocked']:6} "
          f"{count['slow']:5} {count['panicked']:5} {count['gone']:4} {summary['median_boot_s'] or '-':>8}")
    print("BENCH " + json.dumps(summary), flush=True)
    return 0


def kvm_amd_params():
    d = Path("/sys/module/kvm_amd/parameters")
    out = {}
    for p in sorted(d.glob("*")) if d.is_dir() else []:
        try:
            out[p.name] = p.read_text().strip()
        except OSError:
            pass
    return out


if __name__ == "__main__":
    sys.exit(main())
