"""test_switch.py: the VM switch keeps guest state exactly, is atomic, and the service VM stays responsive."""
import time

import pytest

import checksum_guest
from vigil import HVCTL, guest, kickcheck_env, scaled


@pytest.mark.parametrize("vcpus,mode", [("1", []), ("2", []), ("2", ["--restore-always"])],
                         ids=["1vcpu", "2vcpus", "2vcpus-restore-always"])
def test_state_is_preserved_exactly_across_1000_switches(tmp_path, start_hv, vcpus, mode):
    # The switched run goes first and computes until told to stop, so it outlasts 1000 switches
    # however fast or slow this machine is; the reference then computes as many epochs alone.
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", checksum_guest.IMAGE,
                  "--vcpus", vcpus, "--cmdline", checksum_guest.cmdline(0), "--autostart-guest", *mode)
    hv.wait_console("guest", "checksum: start")
    for _ in range(1000):
        hv.ok("switch", target="service")
        hv.ok("switch", target="guest")
    st = hv.vm("guest")
    assert st["switches_out"] >= 1000 and st["switches_in"] >= 1000
    assert st["state"] == "running" and checksum_guest.done(hv.console("guest")) is None
    checksum, epochs = checksum_guest.stop(hv)
    assert checksum == checksum_guest.reference(tmp_path, epochs, "--vcpus", vcpus)


def test_frozen_guest_does_not_run_and_shows_its_registers(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("test-spin.elf"), "--autostart-guest")
    hv.wait_console("guest", "spin: spinning")
    hv.ok("switch", target="service")
    first = hv.ok("regs", vm="guest")
    time.sleep(0.2)
    second = hv.ok("regs", vm="guest")
    assert first["state"] == "frozen" and first["vcpus"] == second["vcpus"]
    assert first["vcpus"][0]["cpl"] == 3 and first["vcpus"][0]["rip"] >= 0x100000
    hv.ok("switch", target="guest")
    resp = hv.call("regs", vm="guest")
    assert not resp["ok"] and "running" in resp["error"]


def test_service_vm_answers_while_a_spinning_guest_is_in_the_foreground(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("test-spin.elf"), "--autostart-guest")
    hv.wait_console("guest", "spin: spinning")
    assert hv.status()["foreground"] == "guest"
    for i in range(20):
        before = hv.console("service").count("pong")
        t0 = time.time()
        hv.type("service", "ping\n")
        hv.wait_for(lambda: hv.console("service").count("pong") > before, timeout=2, what="pong")
        assert time.time() - t0 < scaled(1.0)
    assert hv.vm("guest")["state"] == "running"


def test_service_vm_answers_with_everything_on_one_host_cpu(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("test-spin.elf"), "--autostart-guest",
                  "--pin-cpu", "0")
    hv.wait_console("guest", "spin: spinning")
    hv.type("service", "ping\n")
    hv.wait_console("service", "pong", timeout=5)
    hv.ok("switch", target="service")
    hv.ok("switch", target="guest")


def test_pause_and_resume_keep_the_foreground(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest",
                  "--cmdline", "heartbeat_ms=10")
    hv.wait_console("guest", "Vigil demo guest")
    hv.ok("pause", vm="guest")
    g = hv.vm("guest")
    assert g["state"] == "paused" and hv.status()["foreground"] == "guest"
    beats = g["heartbeats"]
    time.sleep(0.3)
    assert hv.vm("guest")["heartbeats"] == beats  # a paused guest does nothing
    assert not hv.call("pause", vm="guest")["ok"]
    hv.ok("resume", vm="guest")
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 3, what="heartbeats after resume")
    assert not hv.call("resume", vm="guest")["ok"]
    # the service VM can be paused and resumed too, with the guest in the foreground
    hv.ok("pause", vm="service")
    hv.ok("resume", vm="service")
    hv.type("service", "ping\n")
    hv.wait_console("service", "pong")


def test_the_service_vms_switch_requests_do_not_hold_up_a_pause_of_it(start_hv, tmp_path):
    # The main loop holds switch_lock while it parks the service VM; a SWITCH hypercall that
    # waited for that lock would keep the vCPU from parking (the pause timed out after 2 s).
    # kickcheck.so delays each kick by 2 ms, with the lock held, so requests land meanwhile.
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest",
                  env=kickcheck_env(tmp_path))
    hv.wait_console("guest", "demo>")
    for _ in range(20):
        hv.type("service", "switch guest\n" * 300)  # back-to-back SWITCH hypercalls (a no-op each)
        t0 = time.monotonic()
        resp = hv.call("pause", vm="service")
        took = time.monotonic() - t0
        assert resp["ok"] and took < scaled(1), (resp, took)
        hv.ok("resume", vm="service")
    assert hv.status()["foreground"] == "guest" and hv.proc.poll() is None


def test_switch_to_a_crashed_guest_is_refused_and_nothing_changes(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest")
    hv.wait_console("guest", "demo>")
    hv.type("guest", "crash ud2\n")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", what="guest crash")
    assert "exception #UD" in hv.vm("guest")["stop_reason"]
    assert hv.status()["foreground"] == "service"
    resp = hv.call("switch", target="guest")
    assert not resp["ok"] and "crashed" in resp["error"]
    assert hv.status()["foreground"] == "service" and hv.vm("service")["state"] == "running"
    regs = hv.ok("regs", vm="guest")["vcpus"][0]
    assert regs["rip"] > 0x100000 and regs["registers_from"] == "fault_report"
    assert regs["registers_lost"] is False


def test_pvpanic_marks_the_guest_crashed(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest")
    hv.wait_console("guest", "demo>")
    hv.type("guest", "crash panic\n")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", what="pvpanic")
    assert "pvpanic" in hv.vm("guest")["stop_reason"]


def test_hvctl_end_to_end(start_hv):
    import subprocess
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest")
    hv.wait_console("guest", "demo>")

    def hvctl(*args):
        return subprocess.run([str(HVCTL), "--socket", hv.sock_path, *args], capture_output=True, text=True,
                              timeout=scaled(10))

    p = hvctl("switch", "service")
    assert p.returncode == 0 and '"foreground": "service"' in p.stdout
    p = hvctl("status")
    assert p.returncode == 0 and '"state": "frozen"' in p.stdout
    p = hvctl("switch", "guest")
    assert p.returncode == 0
    p = hvctl("console", "guest", "--send", "status\n")
    assert p.returncode == 0
    hv.wait_console("guest", "demo: heartbeats")
    p = hvctl("console", "guest")
    assert "demo: heartbeats" in p.stdout
    p = hvctl("pause", "nosuchvm")
    assert p.returncode == 1 and "no VM named" in p.stderr
