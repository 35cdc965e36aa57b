"""test_hypercalls.py: bad hypercalls get error codes and never disturb hv; good ones work."""
from vigil import guest, run_alone


def test_bad_hypercalls_return_errors_and_hv_survives(tmp_path):
    status, out = run_alone(tmp_path, guest("test-badcalls.elf"))
    assert "badcalls: 0 failure(s)" in out, out
    assert "FAIL" not in out
    assert status == 0, out
    # hv names what it rejected and why
    assert "CONSOLE_WRITE) rejected: EFAULT" in out
    assert "not 8-byte aligned" in out
    assert "outside guest RAM" in out


def test_bad_hypercalls_from_a_guest_leave_the_service_vm_running(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("test-badcalls.elf"),
                  "--autostart-guest")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "halted", what="badcalls guest to finish")
    g = hv.vm("guest")
    assert g["halt_status"] == 0 and g["bad_hypercalls"] >= 10
    assert hv.vm("service")["state"] == "running"
    assert hv.status()["foreground"] == "service"  # a halted guest hands the console back
    hv.type("service", "ping\n")
    hv.wait_console("service", "pong")


def test_uart_guest_talks_through_the_16550(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("test-uart.elf"), "--autostart-guest")
    hv.wait_console("guest", "uart: hello through the 16550")
    hv.type("guest", "x")
    hv.wait_console("guest", "uart: got x")
    hv.type("guest", "q")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "halted", what="uart guest to halt")
    assert hv.vm("guest")["halt_status"] == 0
