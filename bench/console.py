#!/usr/bin/env python3
"""console.py: benchmark of the serial console over mgmt-agent's WebSocket: how many bytes of
guest output per second reach a viewer, and how long a typed line takes to come back.

hv runs the chatter test guest (tests/guests/chatter.c); the agent runs natively (hv link over the
Unix socket) and, when build/mgmt-agent/agent.elf exists, as the service VM (the service channel,
netstack, slirp's port forward). A viewer asks the guest to "flood N" (N KiB of numbered lines as
fast as it prints) and counts what arrives, and what the agent says was skipped (the viewer too
slow) or lost (hv's 64 KiB ring overwritten before the agent read it). Echo: a typed line until
the guest's "echo: " of it is seen, 20 times. Prints a table and one JSON line. Needs `make all`.
"""
import base64
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import platform_info  # noqa: E402
from agent import PASSWORD, Agent, free_port  # noqa: E402
from vigil import Hv, guest  # noqa: E402
from wsclient import WsClient  # noqa: E402

FLOOD_KIB = 16384
URI = "/redfish/v1/Systems/guest/SerialConsole/WebSocket"


def measure(port, user, password):
    auth = [f"Authorization: Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}"]
    ws = WsClient(port, URI + "?mode=takeover", headers=auth, timeout=60)
    assert ws.status == 101, ws.body
    ws.read(lambda d, n: n)
    echo = []
    for i in range(20):
        t0 = time.perf_counter()
        ws.send(f"ping-{i}\n")
        ws.read(lambda d, n: f"echo: ping-{i}\n".encode() in d)
        echo.append((time.perf_counter() - t0) * 1000)
    # Paced: the guest prints at a known rate (pace N: N lines of 64 bytes every 10 ms) for 2 s
    # while the viewer reads; the highest rate the viewer got without a gap.
    clean = 0
    for pace in (100, 400, 1600):
        ws.send(f"pace {pace}\n")
        r = drain(ws, None, 2)
        ws.send(f"pace 0\npace-{pace}-done\n")
        r2 = drain(ws, f"echo: pace-{pace}-done")
        if r["skipped"] or r["lost"] or r2["skipped"] or r2["lost"]:
            break
        clean = pace * 6400
    ws.send(f"flood {FLOOD_KIB}\nflood-done\n")
    r = drain(ws, "echo: flood-done")
    ws.close()
    return {"paced_without_gaps_b_s": clean, "flood_bytes": FLOOD_KIB * 1024,
            "received_bytes": r["got"], "seconds": round(r["secs"], 3),
            "received_mb_s": round(r["got"] / r["secs"] / 1e6, 2), "skipped_bytes": r["skipped"],
            "lost_in_ring_bytes": r["lost"], "echo_ms_p50": round(statistics.median(echo), 2),
            "echo_ms_max": round(max(echo), 2)}


def drain(ws, until, seconds=None):
    """Reads until `until` appears (or for `seconds`): the console bytes, and the bytes the agent
    says were skipped (this viewer too slow) or lost (hv's ring overwritten)."""
    t0, got, skipped, lost, tail = time.perf_counter(), 0, 0, 0, b""
    while (until is None or until.encode() not in tail) and \
            (seconds is None or time.perf_counter() - t0 < seconds):
        op, payload = ws.recv_frame(60)
        if op == 2:
            got += len(payload)
            tail = (tail + payload)[-64:]
        elif op == 1:
            n = json.loads(payload)
            if n["event"] == "skipped":
                skipped += n["bytes"] if n["reason"] == "slow-viewer" else 0
                lost += n["bytes"] if n["reason"] == "ring" else 0
    return {"got": got, "skipped": skipped, "lost": lost, "secs": time.perf_counter() - t0}


def native(tmp):
    (tmp / "hv").mkdir()
    hv = Hv(tmp / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("test-chatter.elf"), "--mem", "16"])
    agent = Agent(hv, tmp / "agent")
    try:
        hv.ok("switch", target="guest")
        hv.wait_console("guest", "chatter: ready")
        return measure(agent.port, "admin", PASSWORD)
    finally:
        agent.stop()
        hv.stop()


def service_vm(tmp):
    elf = ROOT / "build" / "mgmt-agent" / "agent.elf"
    if not elf.exists():
        return None
    port = free_port()
    (tmp / "svc").mkdir()
    hv = Hv(tmp / "svc", ["--service", str(elf), "--mem", "128", "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8443",
                          "--guest", guest("test-chatter.elf"), "--mem", "16"])
    try:
        hv.wait_console("service", "mgmt-agent: serving https://", 120)
        pw = re.search(r'with password (\S+)', hv.console("service")).group(1)
        hv.ok("switch", target="guest")
        hv.wait_console("guest", "chatter: ready")
        return measure(port, "admin", pw)
    finally:
        hv.stop()


def main():
    with tempfile.TemporaryDirectory() as d:
        rows = {"native agent": native(Path(d)), "agent as the service VM": service_vm(Path(d))}
    print(f"{'where':26} {'paced, no gap':>14} {'flood MB/s':>10} {'received':>10} {'skipped':>9} {'lost':>9} "
          f"{'echo p50':>9} {'max':>7}")
    for name, r in rows.items():
        if r:
            print(f"{name:26} {r['paced_without_gaps_b_s'] / 1e6:10.2f}MB/s {r['received_mb_s']:10.2f} "
                  f"{r['received_bytes']:10d} {r['skipped_bytes']:9d} "
                  f"{r['lost_in_ring_bytes']:9d} {r['echo_ms_p50']:7.2f}ms {r['echo_ms_max']:5.1f}ms")
    print(json.dumps({"bench": "console", "machine": platform_info.describe(), "results": rows}))


if __name__ == "__main__":
    main()
