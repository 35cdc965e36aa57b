#!/usr/bin/env python3
"""svcos.py: benchmark of the service OS: image size, boot to first output, RAM needed, TLS inside svcos vs native Linux.

Runs build/svcos/selftest.elf under the real hv (devirtualized) and the same self-test built for
Linux (build/svcos/selftest-native, musl over the sysroot's host dispatcher), then prints a table
and one JSON line.  Needs `make all svcos-selftest svcos-selftest-native`.  Numbers measured on
PVM (see ../shared/docs/KVM-HERE.md) are not real-hardware numbers; compare the ratios.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platform_info

ROOT = Path(__file__).resolve().parents[1]
HV = ROOT / "build" / "hv"
IMAGE = ROOT / "build" / "svcos" / "selftest.elf"
NATIVE = ROOT / "build" / "svcos" / "selftest-native"
NATIVE_ROOT = ROOT / "build" / "svcos" / "selftest" / "root"


def hv_cmd(tmp, mem, cmdline=None):
    cmd = [str(HV), "--control", os.path.join(tmp, "hv.sock"), "--no-service", "--guest", str(IMAGE),
           "--mem", str(mem)]
    return cmd + (["--cmdline", cmdline] if cmdline else [])


def selftest_result(text):
    for line in text.splitlines():
        if line.startswith("SELFTEST "):
            return json.loads(line[len("SELFTEST "):])
    return None


def run_svcos(tmp, mem=128, cmdline=None, timeout=300):
    p = subprocess.run(hv_cmd(tmp, mem, cmdline), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, selftest_result(p.stdout)


def run_native(args, timeout=300):
    p = subprocess.run([str(NATIVE), "--root", str(NATIVE_ROOT)] + args, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, selftest_result(p.stdout)


def stripped_size(path):
    with tempfile.NamedTemporaryFile() as t:
        subprocess.run(["strip", "-o", t.name, str(path)], check=True)
        return os.path.getsize(t.name)


def first_line_ms(cmd, runs):
    """Median time from spawning `cmd` to the first line on its stdout."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        p.stdout.readline()
        times.append((time.perf_counter() - t0) * 1e3)
        p.wait(timeout=60)
    return statistics.median(times)


def smallest_mem(tmp, cmdline=None):
    """Smallest --mem (MiB, multiple of 2) at which the self-test (or the checks in cmdline) passes."""
    lo, hi = 4, 128  # lo fails or is the floor; hi passes
    status, res = run_svcos(tmp, hi, cmdline)
    if status != 0 or not res or not res["ok"]:
        sys.exit(f"the self-test fails even with {hi} MiB")
    while hi - lo > 2:
        mid = (lo + hi) // 2 // 2 * 2
        status, res = run_svcos(tmp, mid, cmdline)
        if status == 0 and res and res["ok"]:
            hi = mid
        else:
            lo = mid
    return hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--handshakes", type=int, default=200, help="TLS handshakes per measurement")
    ap.add_argument("--runs", type=int, default=5, help="repetitions of timed runs")
    args = ap.parse_args()
    for f in (HV, IMAGE, NATIVE):
        if not f.exists():
            sys.exit(f"{f} is missing: make all svcos-selftest svcos-selftest-native")
    out = {"machine": platform_info.describe()}
    with tempfile.TemporaryDirectory() as tmp:
        out["image_bytes_stripped"] = {"svcos": stripped_size(IMAGE), "native": stripped_size(NATIVE)}
        out["first_line_ms"] = {
            "svcos": first_line_ms(hv_cmd(tmp, 128, "--only none"), args.runs),
            "native": first_line_ms([str(NATIVE), "--only", "none"], args.runs),
        }
        out["min_mem_mib"] = smallest_mem(tmp)
        out["min_mem_mib_tls_http"] = smallest_mem(tmp, "--only cpio,jansson,tls,http")
        tls = {"svcos": [], "native": []}
        for _ in range(args.runs):
            _, r = run_svcos(tmp, 128, f"--only tls --bench {args.handshakes}")
            tls["svcos"].append(r["stats"])
            _, r = run_native(["--only", "tls", "--bench", str(args.handshakes)])
            tls["native"].append(r["stats"])
        for k in ("tls_handshakes_per_s", "tls_echo_1mib_ms"):
            out[k] = {side: statistics.median(s[k] for s in runs) for side, runs in tls.items()}
        _, r = run_svcos(tmp, 128)
        out["selftest_ms_total"] = r["ms"]["total"] if r else None
        out["selftest_peak_mem_kib"] = r["stats"]["peak_mem_kib"] if r else None
        boots = [run_svcos(tmp, 128, "--only none")[1]["stats"]["boot_to_main_ms"] for _ in range(args.runs)]
        out["svcos_boot_to_main_ms"] = statistics.median(boots)

    rows = [
        ("image size, stripped (KiB)", out["image_bytes_stripped"]["svcos"] / 1024,
         out["image_bytes_stripped"]["native"] / 1024),
        ("start -> first output line (ms)", out["first_line_ms"]["svcos"], out["first_line_ms"]["native"]),
        ("TLS 1.3 handshakes/s (P-256)", out["tls_handshakes_per_s"]["svcos"], out["tls_handshakes_per_s"]["native"]),
        ("1 MiB TLS echo (ms)", out["tls_echo_1mib_ms"]["svcos"], out["tls_echo_1mib_ms"]["native"]),
    ]
    print(f"{'':34} {'svcos (hv)':>12} {'native Linux':>13} {'ratio':>7}")
    for name, a, b in rows:
        print(f"{name:34} {a:12.1f} {b:13.1f} {a / b if b else float('nan'):7.2f}")
        if name.startswith("start"):
            print(f"{'  of which svcos entry -> main (ms)':34} {out['svcos_boot_to_main_ms']:12.1f}")
    print(f"{'smallest --mem that passes (MiB)':34} {out['min_mem_mib']:12d}   (full self-test)")
    print(f"{'  ... for cpio+jansson+tls+http':34} {out['min_mem_mib_tls_http']:12d}")
    print(f"{'self-test peak svcos memory (KiB)':34} {out['selftest_peak_mem_kib']:12}")
    print("BENCH " + json.dumps({"svcos": out}, sort_keys=True))


if __name__ == "__main__":
    main()
