"""test_power.py: an operator's reset, power-off, power-on and NMI of VMs through hvctl (the
control ops vm.reset, vm.poweroff, vm.poweron, nmi) on real KVM."""
import subprocess

import pytest

from vigil import HVCTL, Hv, guest, scaled

BANNER = "Vigil demo guest:"


@pytest.fixture
def hv(tmp_path):
    h = Hv(tmp_path, ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                      "--mem", "16"])
    yield h
    h.stop()


def hvctl(hv, *args):
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, *args], capture_output=True,
                       text=True, timeout=scaled(30))
    return p.returncode, p.stdout + p.stderr


def boots(hv):
    return hv.console("guest").count(BANNER)


def test_reset_poweroff_poweron_of_the_guest(hv):
    assert hvctl(hv, "switch", "guest")[0] == 0
    hv.wait_console("guest", "demo> ", scaled(10))
    hv.type("guest", "work 1\n")  # leave a mark in guest RAM that a reboot clears
    hv.wait_console("guest", "work: ", scaled(20))
    boot0 = hv.vm("guest")["boot_monotonic_ns"]
    rc, out = hvctl(hv, "reset", "guest")
    assert rc == 0 and '"running"' in out, out
    g = hv.vm("guest")
    assert g["state"] == "running" and g["boot_monotonic_ns"] > boot0
    assert hv.status()["foreground"] == "guest"
    hv.wait_for(lambda: boots(hv) == 2, scaled(10), "the guest's banner a second time")
    # Power off: halted, the service VM takes the foreground; a switch to it is refused.
    rc, out = hvctl(hv, "poweroff", "guest")
    assert rc == 0 and '"halted"' in out, out
    g = hv.vm("guest")
    assert g["state"] == "halted" and g["stop_reason"] == "powered off by an operator"
    assert hv.status()["foreground"] == "service"
    assert not hv.call("switch", target="guest")["ok"]
    assert not hv.call("vm.poweroff", vm="service")["ok"]
    # Power on: booted afresh, in the foreground again.
    rc, out = hvctl(hv, "poweron", "guest")
    assert rc == 0, out
    assert hv.vm("guest")["state"] == "running" and hv.status()["foreground"] == "guest"
    hv.wait_for(lambda: boots(hv) == 3, scaled(10), "the guest's banner a third time")
    resp = hv.call("vm.poweron", vm="guest")
    assert not resp["ok"] and "already on" in resp["error"]
    sel = [e["Message"] for e in hv.ok("sel", max=1000)["entries"]]
    assert any("reset by an operator" in m for m in sel)
    assert any("powered off by an operator" in m for m in sel)
    assert any("powered on by an operator" in m for m in sel)


def test_reset_of_a_frozen_guest_boots_at_the_next_switch(hv):
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "demo> ", scaled(10))
    hv.ok("switch", target="service")
    assert hv.vm("guest")["state"] == "frozen"
    assert hv.ok("vm.reset", vm="guest")["state"] == "created"
    hv.ok("switch", target="guest")
    hv.wait_for(lambda: boots(hv) == 2, scaled(10), "the guest booted again by the switch")


def test_nmi_reaches_the_guests_own_handler(hv):
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "demo> ", scaled(10))
    rc, out = hvctl(hv, "nmi", "guest")
    assert rc == 0, out
    # The demo guest's handler reports an NMI as a diagnostic exception; the policy's
    # guest_panic action (freeze) then stops it with its evidence.
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", scaled(10), "the NMI reported")
    assert "NMI" in hv.vm("guest")["stop_reason"]
    resp = hv.call("nmi", vm="guest")
    assert not resp["ok"] and "running VM" in resp["error"]


def test_the_service_vm_restarts_and_the_guest_runs_on(hv):
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "demo> ", scaled(10))
    before = hv.status()["service_restarts"]
    resp = hv.ok("vm.reset", vm="service")
    assert resp.get("pending") is True
    hv.wait_for(lambda: hv.status()["service_restarts"] == before + 1, scaled(10),
                "the service VM restarted")
    hv.wait_for(lambda: hv.vm("service")["state"] == "running", scaled(10), "the service VM running")
    assert hv.vm("guest")["state"] == "running" and hv.status()["foreground"] == "guest"
    assert boots(hv) == 1
