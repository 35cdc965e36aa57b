"""test_boot.py: the boot flow of seed 001: the service VM first, the guest by a switch from it."""
import time

from vigil import guest, run_alone


def test_service_vm_runs_before_the_guest_starts(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest")
    hv.wait_console("guest", "Vigil demo guest")
    service, g = hv.vm("service"), hv.vm("guest")
    assert 0 < service["boot_monotonic_ns"] < g["boot_monotonic_ns"]
    assert "booting the guest by a switch" in hv.console("service")
    assert hv.status()["foreground"] == "guest"
    assert service["state"] == "running" and g["state"] == "running"


def test_without_autostart_the_guest_waits_for_a_request(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"))
    hv.wait_console("service", "placeholder image")
    time.sleep(0.3)
    assert hv.vm("guest")["state"] == "created"
    assert hv.status()["foreground"] == "service"
    hv.ok("boot", vm="guest")  # a guest boots by a switch to it
    hv.wait_console("guest", "Vigil demo guest")
    assert hv.status()["foreground"] == "guest"
    resp = hv.call("boot", vm="guest")
    assert not resp["ok"] and "already booted" in resp["error"]


def test_service_vm_can_boot_the_guest_from_its_console(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"))
    hv.wait_console("service", "placeholder image")
    hv.type("service", "switch guest\n")
    hv.wait_console("guest", "Vigil demo guest")
    assert hv.vm("guest")["state"] == "running"


def test_devirtualized_mode_runs_the_guest_alone(tmp_path):
    status, out = run_alone(tmp_path, guest("test-checksum.elf"), "--cmdline", "rounds=1000000")
    assert status == 0 and "checksum: done" in out and "devirtualized" in out


def test_devirtualized_status_has_no_service_vm(start_hv):
    hv = start_hv("--no-service", "--guest", guest("demo.elf"))
    hv.wait_console("guest", "Vigil demo guest")
    st = hv.status()
    assert st["mode"] == "devirtualized" and [v["name"] for v in st["vms"]] == ["guest"]
    resp = hv.call("switch", target="service")
    assert not resp["ok"]


def test_several_guests_each_with_their_own_size(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--mem", "32",
                  "--guest", guest("demo.elf"), "--mem", "128", "--vcpus", "2",
                  "--guest", guest("demo.elf"), "--name", "second", "--mem", "64")
    vms = {v["name"]: v for v in hv.status()["vms"]}
    assert (vms["service"]["memory_mib"], vms["guest"]["memory_mib"], vms["second"]["memory_mib"]) == (32, 128, 64)
    assert vms["guest"]["vcpus"] == 2
    hv.ok("switch", target="second")
    hv.wait_console("second", "64 MiB RAM")
    hv.ok("switch", target="guest")
    hv.wait_console("guest", "2 vCPU(s), 128 MiB RAM")
    assert hv.vm("second")["state"] == "frozen"
