#!/usr/bin/python3
"""heavy.py: repeats the heaviest guest work (a dense 1 GiB fill, then a crash snapshot of it) to measure reliability.

Not a test: a soak run for choosing the nested machine's settings (docs/platforms.md).  Run it
where the settings apply, for example:
    VIGIL_KVM=vm VIGIL_KVM_TCG=multi scripts/vigil-kvm -- /usr/bin/python3 tests/soak/heavy.py --runs 20
Each run boots hv with the demo guest (1 GiB), writes 1 GiB in the guest, takes a snapshot and
checks that the guest still answers; it prints one line per run and a summary, and exits 1 if
any run failed.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from vigil import Hv, guest, scaled  # noqa: E402


def one_run(mib):
    with tempfile.TemporaryDirectory() as d:
        hv = Hv(Path(d), ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                          "--mem", str(mib + 128), "--autostart-guest"])
        try:
            t0 = time.monotonic()
            hv.wait_console("guest", "demo>")
            hv.type("guest", f"fill {mib}\n")
            hv.wait_console("guest", "fill: ", timeout=120)
            t_fill = time.monotonic() - t0
            hv.snapshot("guest", timeout=120)
            t_snap = time.monotonic() - t0 - t_fill
            hv.type("guest", "status\n")
            hv.wait_console("guest", "demo: heartbeats")
            state = hv.vm("guest")["state"]
            if state != "running":
                return False, f"guest {state}: {hv.output()[-500:]}"
            return True, f"fill {t_fill:.1f} s, snapshot {t_snap:.1f} s"
        except (AssertionError, OSError, RuntimeError) as e:
            return False, str(e)[-800:]
        finally:
            hv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--mib", type=int, default=1024, help="MiB the guest fills (default 1024)")
    a = ap.parse_args()
    ok = 0
    t0 = time.monotonic()
    for i in range(1, a.runs + 1):
        good, what = one_run(a.mib)
        ok += good
        print(f"run {i}: {'ok' if good else 'FAILED'}: {what}", flush=True)
    print(f"heavy: {ok} of {a.runs} runs passed in {time.monotonic() - t0:.0f} s "
          f"(deadlines scaled x{scaled(1):.1f})")
    return 0 if ok == a.runs else 1


if __name__ == "__main__":
    sys.exit(main())
