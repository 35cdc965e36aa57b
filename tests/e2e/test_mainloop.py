"""test_mainloop.py: hv's main loop keeps answering while a long job (a big snapshot, a service VM restart) runs."""
import time

from vigil import SLOWDOWN, frame, guest, read_response, scaled

DEMO = guest("demo.elf")
ANSWER_S = 1.0  # a control request is answered within this (native seconds) while a job runs


def dense_mem(native_mib=600):
    """MiB to fill so that writing the core takes seconds (about 2 s natively), and the RAM to give
    for them; less where everything is slower (the point is a long write, not the size)."""
    fill = max(64, int(native_mib / SLOWDOWN))
    return fill, (fill + 124) // 2 * 2


def timed_call(sock, op, **fields):
    t0 = time.monotonic()
    sock.sendall(frame(dict(op=op, **fields)))
    resp, _ = read_response(sock)
    return resp, time.monotonic() - t0


def test_control_and_switches_go_on_while_a_big_snapshot_is_written(start_hv):
    fill, mem = dense_mem()
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", DEMO, "--mem", str(mem),
                  "--autostart-guest")
    hv.wait_console("guest", "demo>")
    hv.type("guest", f"fill {fill}\n")
    hv.wait_console("guest", "fill: ", timeout=60)
    other = hv.connect()
    try:
        hv.conn.sendall(frame({"op": "snapshot.take", "vm": "guest"}))
        # another client is answered at once: the take does not hold the main loop
        resp, took = timed_call(other, "hello")
        assert resp["ok"] and took < scaled(ANSWER_S), f"hello took {took:.3f} s"
        take, _ = read_response(hv.conn)
        assert take["ok"], take
        job = take["job"]
        assert job["vm"] == "guest" and job["kind"] == "snapshot" and job["state"] == "running"
        resp, took = timed_call(other, "status")
        assert resp["ok"] and took < scaled(ANSWER_S), f"status took {took:.3f} s"
        g = next(v for v in resp["vms"] if v["name"] == "guest")
        assert g["snapshot_writing"] is True
        # a switch still works: the service VM takes the foreground; the guest stays stopped
        resp, took = timed_call(other, "switch", target="service")
        assert resp["ok"] and took < scaled(ANSWER_S), (resp, took)
        assert hv.vm("guest")["state"] == "frozen"
        # ... but the guest may not run again while its RAM is being read
        resp = hv.call("switch", target="guest")
        assert not resp["ok"] and "being written" in resp["error"], resp
        assert hv.ok("job", id=job["id"])["job"]["state"] == "running"  # all of it happened meanwhile
        done = hv.wait_job(job["id"])
        assert done["state"] == "done" and done["snapshot"]["vm"] == "guest", done
        assert done["snapshot"]["id"] in [s["id"] for s in hv.ok("snapshot.list")["snapshots"]]
        assert hv.vm("guest")["snapshot_writing"] is False
        hv.ok("switch", target="guest")
        hv.type("guest", "status\n")
        hv.wait_console("guest", "demo: heartbeats")
    finally:
        other.close()


def test_a_requested_snapshot_lets_a_running_guest_go_on_once_written(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", DEMO, "--mem", "64", "--autostart-guest",
                  "--cmdline", "heartbeat_ms=10")
    hv.wait_console("guest", "demo>")
    taken = hv.snapshot("guest")
    assert taken["frozen_us"] >= 0 and taken["snapshot"]["trigger"] == "request"
    hv.wait_for(lambda: hv.vm("guest")["state"] == "running" and not hv.vm("guest")["snapshot_writing"],
                what="the guest running again")
    beats = hv.vm("guest")["heartbeats"]
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 3, what="heartbeats after the snapshot")
    assert not hv.call("job", id=12345)["ok"]


def test_control_goes_on_while_a_crashed_service_vm_waits_for_its_snapshot(start_hv):
    fill, mem = dense_mem()
    # The demo image serves as a service VM with RAM to fill: its core takes seconds to write,
    # and hv restarts it only after that (its RAM is the evidence until then).
    hv = start_hv("--service", DEMO, "--mem", str(mem), "--guest", DEMO, "--name", "guest", "--mem", "64",
                  "--cmdline", "heartbeat_ms=10")
    hv.wait_console("service", "demo>")
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "demo>")
    hv.type("service", f"fill {fill}\n")
    hv.wait_console("service", "fill: ", timeout=60)
    other = hv.connect()
    try:
        hv.type("service", "crash ud2\n")
        slowest, saw_pending = 0.0, False
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline:
            resp, took = timed_call(other, "status")
            slowest = max(slowest, took)
            svc = next(v for v in resp["vms"] if v["name"] == "service")
            if resp["service_restarts"] == 1:
                break
            if svc["state"] == "crashed" and svc["snapshot_writing"]:
                saw_pending = True
                # the guest's console is served meanwhile, and a switch to the dead service VM is refused
                hv.type("guest", "status\n")
                r = hv.call("switch", target="service")
                if r["ok"]:  # the restart came in between (a loaded host): then the guest goes back
                    assert hv.status()["service_restarts"] == 1, r
                    hv.ok("switch", target="guest")
                else:
                    assert "restart" in r["error"], r
            time.sleep(0.02)
        assert resp["service_restarts"] == 1, hv.output()
        assert slowest < scaled(ANSWER_S), f"a status request took {slowest:.3f} s during the restart"
        assert saw_pending, "the service VM's snapshot was written too fast to see the restart wait"
        hv.wait_console("guest", "demo: heartbeats")
        hv.wait_for(lambda: hv.console("service").count("demo>") >= 2, what="the service VM booted again")
        snaps = hv.ok("snapshot.list")["snapshots"]
        assert [s["vm"] for s in snaps] == ["service"] and snaps[0]["registers_from"] == "fault_report"
        text = " | ".join(e["Message"] for e in hv.ok("sel")["entries"])
        assert "service VM restarted" in text, text
    finally:
        other.close()
