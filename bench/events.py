#!/usr/bin/env python3
"""events.py: event latency of the Redfish event stream: from a `switch` request on hv's control
socket to its ForegroundSwitched event read from the agent's SSE stream (TLS, curl-free client).

Runs the real hv (service-stub + demo guest) and the native mgmt-agent, opens one SSE stream
with a $filter on the switch events, makes N switches (default 100, alternating guest/service,
one at a time) and prints p50/p90/p99/max in ms and one BENCH JSON line. The agent polls hv's
`events` every 50 ms (mgmt-agent/evhv.h), which is most of what this measures. `--svcvm` runs
the agent as the service VM instead (agent.elf: svcos, netstack, the service channel; its HTTPS
through slirp's port forward). Needs `make all`.
"""
import argparse
import json
import re
import random
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import platform_info  # noqa: E402
from agent import Agent, free_port  # noqa: E402
from sse import END, Stream, origin, record  # noqa: E402
from vigil import Hv, guest  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100, help="switches (default 100)")
    ap.add_argument("--svcvm", action="store_true", help="the agent as the service VM")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "hv").mkdir()
        agent = None
        if args.svcvm:
            port = free_port()
            hv = Hv(Path(tmp) / "hv", ["--service", str(ROOT / "build" / "mgmt-agent" / "agent.elf"),
                                       "--mem", "128", "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8443",
                                       "--guest", guest("demo.elf"), "--mem", "16"])
            hv.wait_console("service", "mgmt-agent: serving https://", 60)
            pw = re.search(r'created account "admin" \(Administrator\) with password (\S+)',
                           hv.console("service")).group(1)
            where, user = types.SimpleNamespace(port=port), ("admin", pw)
        else:
            hv = Hv(Path(tmp) / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                                       "--mem", "16"])
            agent = Agent(hv, Path(tmp) / "agent")
            where, user = agent, None
        kw = {"user": user} if user else {}
        s = Stream(where, query="?$filter=MessageId%20eq%20Vigil.1.0.ForegroundSwitched", **kw)
        assert s.status == 200, s.status
        lat = []
        try:
            for i in range(args.n):
                target = "guest" if i % 2 == 0 else "service"
                t0 = time.monotonic()
                hv.ok("switch", target=target)
                ev = s.next(10)
                assert ev not in (None, END), "no event within 10 s"
                assert origin(record(ev)) == f"/redfish/v1/Systems/{target}", record(ev)
                lat.append((ev["at"] - t0) * 1000)
                time.sleep(random.uniform(0, 0.05))  # not in step with the agent's 50 ms poll
        finally:
            s.close()
            if agent:
                agent.stop()
            hv.stop()
    out = {"machine": platform_info.describe(), "switches": len(lat), "poll_ms": 50,
           "agent": "service VM" if args.svcvm else "native",
           "p50_ms": round(pct(lat, 50), 2), "p90_ms": round(pct(lat, 90), 2),
           "p99_ms": round(pct(lat, 99), 2), "max_ms": round(max(lat), 2),
           "mean_ms": round(statistics.mean(lat), 2)}
    print(f"switch request -> SSE event, agent {out['agent']}, {len(lat)} switches (ms)")
    for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"):
        print(f"  {k[:-3]:6} {out[k]:8.2f}")
    print("BENCH " + json.dumps({"events": out}, sort_keys=True))


if __name__ == "__main__":
    main()
