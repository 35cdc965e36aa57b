"""test_interpose.py: seed 003: attach the service VM and traps to a running guest, detach them, guest undisturbed."""
import re

import checksum_guest
from vigil import guest, scaled


def test_attach_and_detach_around_a_running_guest(start_hv, tmp_path):
    # The guest computes until told to stop, so it is still running through every step below
    # however slow this machine is; the reference then computes as many epochs alone.
    hv = start_hv("--no-service", "--guest", checksum_guest.IMAGE, "--cmdline", checksum_guest.cmdline(0),
                  "--service-image", guest("service-stub.elf"))
    hv.wait_console("guest", "checksum: start")
    st = hv.status()
    assert st["mode"] == "devirtualized" and not st["traps_armed"]
    attach = hv.ok("service.attach")
    st = hv.status()
    assert st["mode"] == "normal" and st["traps_armed"] and hv.vm("service")["state"] == "running"
    hv.wait_console("service", "placeholder image")
    hv.type("service", "ping\n")
    hv.wait_console("service", "pong")
    # with the service VM attached, switches work and keep the guest's state
    for _ in range(20):
        hv.ok("switch", target="service")
        hv.ok("switch", target="guest")
    assert not hv.call("service.attach")["ok"]  # only one
    hv.ok("service.detach")
    st = hv.status()
    assert st["mode"] == "devirtualized" and not st["traps_armed"]
    assert [v["name"] for v in st["vms"]] == ["guest"] and st["foreground"] == "guest"
    # attach a second time, detach while the service VM has the foreground
    hv.ok("service.attach")
    hv.ok("switch", target="service")
    hv.ok("service.detach")
    assert hv.vm("guest")["state"] == "running"
    assert attach["attach_ms"] < scaled(5000)
    assert hv.proc.poll() is None  # the guest computes on, alone again
    # once stopped, hv ends with the guest: its console went to hv's terminal
    hv.type("guest", "stop\n")
    hv.proc.wait(scaled(30))
    assert hv.proc.returncode == 0
    checksum, epochs = checksum_guest.done(hv.output())
    assert checksum == checksum_guest.reference(tmp_path, epochs)


def test_devirtualized_guest_is_not_trapped(start_hv):
    hv = start_hv("--no-service", "--guest", guest("demo.elf"), "--watchdog-ms", "20")
    hv.wait_console("guest", "demo>")
    hv.type("guest", "crash silence\n")
    import time
    time.sleep(0.3)
    assert not [e for e in hv.ok("sel")["entries"] if e["Oem"]["Vigil"]["EventType"] == "watchdog"]
    assert not hv.call("service.attach")["ok"]  # no --service-image and no image given
    hv.ok("service.attach", image=guest("service-stub.elf"))
    hv.wait_for(lambda: [e for e in hv.ok("sel")["entries"] if e["Oem"]["Vigil"]["EventType"] == "watchdog"],
                what="watchdog armed after attach")


def test_policy_set_while_devirtualized_is_stored_and_armed_at_attach(start_hv):
    # Devirtualized, the guest runs untrapped: a policy change must not arm read-only slots or
    # the MSR filter under it (its writes would be dropped, its MSR accesses refused), only be
    # kept for the next attach.
    hv = start_hv("--no-service", "--guest", guest("demo.elf"), "--cpl0",
                  "--service-image", guest("service-stub.elf"))
    hv.wait_console("guest", "demo>")
    r = hv.ok("policy.set", policy={"protected": [{"gpa": "0x100000", "len": 4096}],
                                    "forbidden_msrs": ["0x1a0"]})
    hv.type("guest", "crash write\n")
    hv.wait_console("guest", "the write returned")
    assert "byte now 0xcc" in hv.console("guest")  # the write reached memory
    hv.type("guest", "crash msr\n")
    hv.wait_console("guest", "crash: rdmsr 0x1a0 = ")  # no #GP from a filter
    assert hv.vm("guest")["state"] == "running"
    assert not [e for e in hv.ok("sel")["entries"] if e["Oem"]["Vigil"]["EventType"] == "trap"]
    assert r["armed"] is False and "attach" in r["note"], r
    assert hv.ok("policy.get")["policy"]["protected"] == [{"gpa": "0x100000", "len": 4096}]
    # the stored policy is armed by the next attach
    hv.ok("service.attach")
    hv.type("guest", "crash write 0x100040\n")
    hv.wait_for(lambda: [e for e in hv.ok("sel")["entries"] if e["Oem"]["Vigil"]["EventType"] == "trap"
                         and "write to protected 0x100040" in e["Message"]], what="the trap after attach")
