#!/usr/bin/python3
"""switch_ab.py: bench/switch.py for two builds, alternated in one session, and the median table.

On a shared machine the load drifts by 2x within minutes, so a "before" run and an "after" run
taken apart say little; alternating them (before, after, before, after, ...) and taking each
metric's median over the rounds does better.  Each run is a whole switch.py with its own QEMU
peer.  See docs/benchmarks.md.

  python3 bench/switch_ab.py --before build/base-src/build --rounds 5 -- --quick
  python3 bench/switch_ab.py --tag pvm --summary      # the table again, from the JSON files

"after" is this tree (VIGIL_BUILD / VIGIL_GUESTS unset: build/ and build/guests); "before" is
--before (hv, hvctl and bench/switch_client) with --before-guests (default: DIR/guests).
Results: build/bench/ab-TAG-{before,after}-N.{json,txt}.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "bench"

HV_ROWS = [("hv internal ->service (Python)", ("internal", "switch_to_service")),
           ("hv internal ->guest (Python)", ("internal", "switch_to_guest")),
           ("hv internal ->service (C client)", ("internal_during_c_client", "switch_to_service")),
           ("hv internal ->guest (C client)", ("internal_during_c_client", "switch_to_guest")),
           ("e2e pair, Python", ("e2e_socket", "pair")),
           ("e2e pair, C", ("e2e_socket_c", "pair")),
           ("hello, Python", ("e2e_socket", "hello_baseline")),
           ("hello, C", ("e2e_socket_c", "hello_baseline"))]
QEMU_ROWS = [("QEMU stop+cont, Python", ("stop_cont",)), ("QEMU stop+cont, C", ("c_client", "stop_cont"))]
RATIO_ROWS = [("ratio pair / stop+cont, Python", "pair"), ("ratio pair / stop+cont, C", "c_pair"),
              ("ratio internal ->service / stop (C)", "internal_to_service_vs_c_stop"),
              ("ratio internal ->guest / cont (C)", "internal_to_guest_vs_c_cont")]


def dig(d, *keys):
    for k in keys:
        if d is None:
            return None
        d = d.get(k)
    return d


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def us(x):
    return "-" if x is None else (f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} µs")


def summary(tag):
    runs = {v: [json.loads(Path(p).read_text()) for p in sorted(glob.glob(str(OUT / f"ab-{tag}-{v}-*.json")))]
            for v in ("before", "after")}
    if not runs["before"] or not runs["after"]:
        sys.exit(f"switch_ab.py: no build/bench/ab-{tag}-before-*.json and ab-{tag}-after-*.json")
    loads = [float(r["machine"]["loadavg"][0]) for rs in runs.values() for r in rs if r["machine"].get("loadavg")]
    print(f"{len(runs['before'])} + {len(runs['after'])} runs, load average at their starts "
          f"{min(loads):.1f}-{max(loads):.1f}; each cell: the median over the runs of that run's p50 / p99")
    for sc in ("spin", "idle"):
        print(f"\n| {sc} | before p50 | before p99 | after p50 | after p99 |\n|---|---|---|---|---|")
        for name, path in HV_ROWS:
            cells = [us(median([dig(r["hv"].get(sc), *path, pct) for r in runs[v]]))
                     for v in ("before", "after") for pct in ("p50_us", "p99_us")]
            print(f"| {name} | " + " | ".join(cells) + " |")
        for name, path in QEMU_ROWS:
            cells = [us(median([dig(r["qemu"].get(f"qemu-{sc}"), *path, pct) for r in runs[v]]))
                     for v in ("before", "after") for pct in ("p50_us", "p99_us")]
            print(f"| {name} | " + " | ".join(cells) + " |")
        for name, key in RATIO_ROWS:
            cells = []
            for v in ("before", "after"):
                for pct in ("p50", "p99"):
                    x = median([dig(r, "ratios_hv_e2e_over_qemu", sc, f"{key}_{pct}") for r in runs[v]])
                    cells.append("-" if x is None else f"{x:.2f}")
            print(f"| {name} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description="switch.py for two builds, alternated (docs/benchmarks.md)")
    ap.add_argument("--before", help="the other build folder (hv, hvctl, bench/switch_client), relative to the tree")
    ap.add_argument("--before-guests", help="its guest images (default: BEFORE/guests)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tag", default="ab", help="names the result files (default ab)")
    ap.add_argument("--summary", action="store_true", help="only print the table from earlier runs")
    ap.add_argument("args", nargs="*", help="passed to switch.py (after --)")
    a = ap.parse_args()
    if not a.summary:
        if not a.before:
            ap.error("--before is needed (or --summary)")
        OUT.mkdir(parents=True, exist_ok=True)
        for old in glob.glob(str(OUT / f"ab-{a.tag}-*")):
            os.unlink(old)
        builds = {"before": (a.before, a.before_guests or f"{a.before}/guests"), "after": (None, None)}
        for i in range(1, a.rounds + 1):
            for v, (build, guests) in builds.items():
                env = dict(os.environ)
                env.pop("VIGIL_BUILD", None)
                env.pop("VIGIL_GUESTS", None)
                if build:
                    env.update(VIGIL_BUILD=build, VIGIL_GUESTS=guests)
                load = open("/proc/loadavg").read().split()[0]
                print(f"[round {i}] {v} (load average {load})", file=sys.stderr, flush=True)
                out = OUT / f"ab-{a.tag}-{v}-{i}"
                with open(f"{out}.txt", "w") as log:
                    p = subprocess.run([sys.executable, str(ROOT / "bench" / "switch.py"), *a.args,
                                        "--out", f"{out}.json"], env=env, stdout=log, stderr=subprocess.STDOUT)
                if p.returncode:
                    sys.exit(f"switch_ab.py: switch.py exited {p.returncode}; see {out}.txt")
    summary(a.tag)


if __name__ == "__main__":
    main()
