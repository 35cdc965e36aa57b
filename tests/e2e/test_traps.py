"""test_traps.py: each guest event leads to its configured action, end to end, on real VMs."""
import json
import os
import re
import time

import pytest

from vigil import frame, guest, read_response, scaled


def sel_types(hv):
    return [(e["Oem"]["Vigil"]["EventType"], e["Message"]) for e in hv.ok("sel")["entries"]]


def wait_sel(hv, event_type, text="", timeout=10):
    return hv.wait_for(lambda: next((m for t, m in sel_types(hv) if t == event_type and text in m), None),
                       timeout, f"SEL {event_type} {text}")


def demo(start_hv, *extra, guest_args=()):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), *guest_args,
                  "--autostart-guest", *extra)
    hv.wait_console("guest", "demo>")
    return hv


def host_is_amd_svm():
    # The vendor alone does not tell: a PVM host on an AMD CPU keeps the registers.  What
    # resets the vCPU on a shutdown intercept is KVM's SVM backend.
    return os.path.isdir("/sys/module/kvm_amd") and not os.path.isdir("/sys/module/kvm_pvm")


@pytest.mark.parametrize("mode,event", [("triple", "triple_fault"), ("ud2", "guest_panic"),
                                        ("stack", "guest_panic"), ("panic", "pvpanic"),
                                        ("panic-hc", "guest_panic")])
def test_crash_events_freeze_snapshot_and_switch(start_hv, mode, event):
    hv = demo(start_hv)
    hv.type("guest", f"crash {mode}\n")
    wait_sel(hv, "trap", event)
    wait_sel(hv, "action", f"freeze for {event}")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", what="crashed state")
    assert hv.status()["foreground"] == "service"
    wait_sel(hv, "snapshot", "written")
    snaps = hv.ok("snapshot.list")["snapshots"]
    assert len(snaps) == 1 and snaps[0]["trigger"] == f"trap:{event}" and snaps[0]["vm"] == "guest"


def test_log_action_lets_a_panicking_guest_go_on(start_hv):
    hv = demo(start_hv, "--policy-set", "pvpanic=log", "--policy-set", "guest_panic=resume")
    hv.type("guest", "crash panic\n")
    hv.wait_console("guest", "pvpanic returned")
    hv.type("guest", "crash panic-hc\n")
    hv.wait_console("guest", "panic hypercall returned")
    assert hv.vm("guest")["state"] == "running"
    wait_sel(hv, "action", "log for pvpanic")
    wait_sel(hv, "action", "resume for guest_panic")
    assert hv.ok("snapshot.list")["snapshots"] == []


def test_reset_action_boots_the_guest_again(start_hv):
    hv = demo(start_hv, "--policy-set", "triple_fault=reset")
    hv.type("guest", "crash triple\n")
    wait_sel(hv, "vm_reset", "reset by policy")
    hv.wait_for(lambda: hv.console("guest").count("Vigil demo guest") == 2, what="second boot")
    assert hv.vm("guest")["state"] == "running" and hv.status()["foreground"] == "guest"


def test_write_to_a_protected_range_never_reaches_memory(start_hv, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text('{"protected": [{"gpa": "0x100000", "len": 4096}], "events": {"write_protected": "log"}}')
    hv = demo(start_hv, "--policy", str(policy))
    before = hv.call("peek", vm="guest", addr=0x100000, len=16)
    hv.type("guest", "crash write\n")
    text = hv.wait_console("guest", "the write returned")
    m = re.search(r"byte now 0x([0-9a-f]+)", hv.console("guest"))
    assert m and m.group(1) != "cc"  # the guest reads back its original code byte
    wait_sel(hv, "trap", "write_protected")
    assert hv.vm("guest")["state"] == "running"
    # and with the default action the guest is frozen (not crashed) and can be resumed
    hv.ok("policy.set", policy={"events": {"write_protected": "freeze"}})
    hv.type("guest", "crash write\n")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "frozen", what="frozen by the trap")
    assert hv.status()["foreground"] == "service"
    wait_sel(hv, "snapshot", "written")
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "the write returned")


def test_policy_set_with_unsorted_ranges_on_a_running_guest(start_hv):
    # The higher range first: hv must lay the memslots out in address order whatever the order
    # given.  (It used to fail half-way with EEXIST and let the guest run with RAM unmapped.)
    hv = demo(start_hv, guest_args=("--cmdline", "heartbeat_ms=50"))
    r = hv.ok("policy.set", policy={"protected": [{"gpa": "0x900000", "len": 4096},
                                                  {"gpa": "0x800000", "len": 8192}],
                                    "events": {"write_protected": "log"}})
    beats = hv.vm("guest")["heartbeats"]
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] >= beats + 5, what="heartbeats after the change")
    for addr in ("0x900000", "0x801000"):
        hv.type("guest", f"crash write {addr}\n")
        m = hv.wait_for(lambda: re.search(rf"wild write to {addr}\r?\ncrash: the write returned; byte now 0x(\w+)",
                                          hv.console("guest")), what=f"the write to {addr}")
        assert m.group(1) != "cc", addr  # dropped: it never reached memory
        wait_sel(hv, "trap", f"write to protected {addr}")
    hv.type("guest", "status\n")
    hv.wait_console("guest", "demo: heartbeats")
    assert hv.vm("guest")["state"] == "running"
    assert [p["gpa"] for p in r["policy"]["protected"]] == ["0x800000", "0x900000"]  # normalised


def test_forbidden_port_and_notify(start_hv, tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text('{"forbidden_ports": [{"first": 96, "last": 100}], "events": {"forbidden_port": "notify"}}')
    hv = demo(start_hv, "--policy", str(policy))
    hv.type("guest", "crash port\n")
    hv.wait_console("guest", "read port 0x60: 0xff")
    wait_sel(hv, "trap", "forbidden port 0x60")
    hv.wait_console("service", "notified of a guest event")
    assert hv.vm("guest")["state"] == "running"


def test_operator_trap_freezes_and_snapshots(start_hv):
    hv = demo(start_hv)
    assert hv.ok("trap", vm="guest")["action"] == "freeze"
    hv.wait_for(lambda: hv.vm("guest")["state"] == "frozen", what="operator freeze")
    wait_sel(hv, "trap", "operator")
    wait_sel(hv, "snapshot", "written")
    hv.ok("switch", target="guest")
    hv.type("guest", "status\n")
    hv.wait_console("guest", "demo: heartbeats")


def test_nmi_action_reaches_the_guest(start_hv, tmp_path):
    # Our guests treat an NMI as a diagnostic interrupt: their handler reports it, which is
    # the proof of delivery, and the guest stops there.
    policy = tmp_path / "p.json"
    policy.write_text('{"forbidden_ports": [{"first": 96, "last": 96}], "events": {"forbidden_port": "nmi"}}')
    hv = demo(start_hv, "--policy", str(policy))
    hv.type("guest", "crash port\n")
    wait_sel(hv, "action", "nmi for forbidden_port")
    wait_sel(hv, "trap", "guest_panic: exception NMI (vector 2)")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", what="NMI reported")
    assert not any(t == "trap" and "triple_fault" in m for t, m in sel_types(hv))


def test_fault_report_gives_the_faulting_registers(start_hv):
    hv = demo(start_hv)
    hv.type("guest", "crash ud2\n")
    text = wait_sel(hv, "trap", "exception #UD (vector 6)")
    assert "registers from the guest's fault report" in text
    wait_sel(hv, "snapshot", "written")
    snap = hv.ok("snapshot.list")["snapshots"][0]
    assert snap["trigger"] == "trap:guest_panic" and snap["registers_from"] == "fault_report"
    assert snap["registers_lost"] is False and snap["registers_vcpu"] == 0
    assert snap["fault"] == {"vector": 6, "name": "#UD"}
    rip = int(snap["registers"]["rip"], 16)
    assert f"at rip 0x{rip:x}" in text
    # the reported rip is the ud2 itself, in the guest's image
    hv.conn.sendall(frame({"op": "peek", "vm": "guest", "addr": rip, "len": 2}))
    resp, code = read_response(hv.conn)
    assert resp["ok"] and code == b"\x0f\x0b", (resp, code)


def test_stack_overflow_is_caught_on_the_ist_stack(start_hv):
    # Without a stack switch the CPU could not push the #PF frame (the stack is the unmapped
    # page) and the fault would escalate to a double, then a triple fault.
    hv = demo(start_hv)
    hv.type("guest", "crash stack\n")
    text = wait_sel(hv, "trap", "exception #PF (vector 14)")
    assert "error code 0x6" in text and "cr2 0xff8" in text, text  # user write, not present
    wait_sel(hv, "snapshot", "written")
    snap = hv.ok("snapshot.list")["snapshots"][0]
    assert snap["fault"] == {"vector": 14, "name": "#PF", "error_code": "0x6", "cr2": "0xff8"}
    assert snap["registers"]["rsp"] == "0x1000" and snap["registers_from"] == "fault_report"
    assert not any("triple_fault" in m for t, m in sel_types(hv))


def test_triple_fault_registers_are_marked_lost_exactly_on_amd(start_hv):
    # With the handlers removed a fault is a genuine triple fault.  VT-x and PVM keep the
    # vCPU's registers; AMD SVM resets the vCPU, and hv says so instead of presenting the
    # reset vector as the guest's state.
    amd = host_is_amd_svm()
    hv = demo(start_hv)
    hv.type("guest", "crash triple\n")
    text = wait_sel(hv, "trap", "triple_fault")
    crash = wait_sel(hv, "vm_crash", "triple fault")
    wait_sel(hv, "snapshot", "written")
    snap = hv.ok("snapshot.list")["snapshots"][0]
    regs = hv.ok("regs", vm="guest")["vcpus"][0]
    assert snap["registers_lost"] is amd and regs["registers_lost"] is amd, (amd, snap)
    assert snap["registers_from"] == "vcpu" and "fault" not in snap
    if amd:
        assert "AMD SVM" in snap["registers_lost_reason"]
        assert "registers lost" in text and "registers lost" in crash
        assert snap["registers"]["rip"] == "0xfff0"  # what the reset vCPU holds
    else:
        assert "registers_lost_reason" not in snap
        rip = int(snap["registers"]["rip"], 16)
        assert rip >= 0x100000 and f"at rip 0x{rip:x}" in text


def test_halt_with_interrupts_off_at_cpl0(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--cpl0",
                  "--cmdline", "crash=hang-cli", "--autostart-guest",
                  # a period the guest's boot cannot outlast on a slow machine: the halt is seen
                  # within a tick or two, well before "no heartbeat" could fire
                  "--watchdog-ms", str(round(scaled(100))))
    wait_sel(hv, "trap", "halted_irqs_off", timeout=30)
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", what="crashed", timeout=10)


def test_double_fault_at_cpl0_is_a_crash_with_evidence(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--cpl0",
                  "--cmdline", "crash=double", "--autostart-guest")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", what="double fault", timeout=30)
    wait_sel(hv, "snapshot", "written")
    snap = hv.ok("snapshot.list")["snapshots"][0]
    assert snap["exception"]["event"] in ("triple_fault", "internal_error")


def test_forbidden_msr_at_cpl0(start_hv, tmp_path):
    policy = tmp_path / "p.json"
    policy.write_text('{"forbidden_msrs": ["0x1a0"], "events": {"forbidden_msr": "resume"}}')
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--cpl0",
                  "--cmdline", "crash=msr", "--autostart-guest", "--policy", str(policy))
    hv.wait_console("guest", "rdmsr 0x1a0 = 0x0", timeout=30)
    wait_sel(hv, "trap", "forbidden MSR 0x1a0")


def test_forbidden_msrs_beyond_sixteen_are_trapped(start_hv, tmp_path):
    # KVM's MSR filter holds 16 ranges; the policy takes 32 MSRs.  The 17th must be trapped too.
    policy = tmp_path / "p.json"
    msrs = [hex(0x400 + i) for i in range(16)] + ["0x1a0"]
    policy.write_text(json.dumps({"forbidden_msrs": msrs, "events": {"forbidden_msr": "resume"}}))
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--cpl0",
                  "--cmdline", "crash=msr", "--autostart-guest", "--policy", str(policy))
    hv.wait_console("guest", "rdmsr 0x1a0 = 0x0", timeout=30)
    wait_sel(hv, "trap", "forbidden MSR 0x1a0")


def test_bad_policy_input_is_rejected_naming_the_field(start_hv, tmp_path):
    hv = demo(start_hv)
    for pol, field in [({"events": {"triple_fault": "explode"}}, "events.triple_fault"),
                       ({"watchdog_ms": 0.5}, "watchdog_ms"),
                       ({"protected": [{"gpa": "0x100001", "len": 4096}]}, "protected[0].gpa"),
                       ({"events": {"triple_fault": "resume"}}, "triple_fault"),
                       ({"forbidden_ports": [{"first": 0x3f8, "last": 0x3f8}]}, "forbidden_ports[0]"),
                       ({"colour": "blue"}, "colour")]:
        r = hv.call("policy.set", policy=pol)
        assert not r["ok"] and field in r["error"], (pol, r)
    assert hv.ok("policy.get")["policy"]["events"]["triple_fault"] == "freeze"  # nothing changed
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": {"pvpanic": "fly"}}')
    import subprocess
    from vigil import HV
    p = subprocess.run([str(HV), "--control", str(tmp_path / "s"), "--state-dir", str(tmp_path / "st"),
                        "--service", guest("service-stub.elf"), "--policy", str(bad)], capture_output=True,
                       timeout=scaled(10), stdin=subprocess.DEVNULL)
    assert p.returncode != 0 and "events.pvpanic" in p.stderr.decode()
