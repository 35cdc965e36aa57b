"""test_containment.py: a crash of the service VM is recorded and contained; hv restarts it; the guest goes on."""
from vigil import guest


def test_service_vm_crash_is_contained_and_restarted(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest",
                  "--cmdline", "heartbeat_ms=10")
    hv.wait_console("guest", "demo>")
    beats = hv.vm("guest")["heartbeats"]
    hv.type("service", "crash\n")
    hv.wait_for(lambda: hv.status()["service_restarts"] == 1, what="service restart")
    hv.wait_for(lambda: hv.console("service").count("placeholder image") == 2, what="second service boot")
    entries = hv.ok("sel")["entries"]
    text = " | ".join(f'{e["Oem"]["Vigil"]["VM"]}:{e["Message"]}' for e in entries)
    assert "service:trap guest_panic: exception #UD" in text and "service VM restarted" in text, text
    hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], what="service core")
    snap = hv.ok("snapshot.list")["snapshots"][0]
    # the faulting state, from the service image's exception handler: on AMD too
    assert snap["vm"] == "service" and int(snap["registers"]["rip"], 16) >= 0x100000
    assert snap["registers_from"] == "fault_report"
    # the guest was not disturbed: still running, in the foreground, heartbeating
    g = hv.vm("guest")
    assert g["state"] == "running" and hv.status()["foreground"] == "guest"
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 5, what="guest heartbeats")
    hv.type("service", "ping\n")
    hv.wait_console("service", "pong")
