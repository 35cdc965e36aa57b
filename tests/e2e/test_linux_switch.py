"""test_linux_switch.py: a Linux guest switched away from and back to 100 times keeps counting,
keeps its clock and loses no typed input; hvctl peek --virt reads its kernel (docs/linux-guest.md)."""
import os
import re
import subprocess
import time

from linux_guest import MARKER, symbol, system_map
from test_linux import APPEND, initrd, kernel, needs_fast_cpl0  # noqa: F401 (fixtures)
from vigil import HVCTL, guest

SWITCHES = 100
# A counter on the console every 0.2 s of guest time, in the background of the shell.
COUNTER = "(i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.2; done) &\n"


def ticks(text):
    return [int(n) for n in re.findall(r"tick-(\d+)", text)]


@needs_fast_cpl0
def test_linux_survives_100_switches(start_hv, kernel, initrd, tmp_path):
    # --restore-always: every resume writes the captured state back (vCPUs, irqchip, PIT,
    # kvm-clock), so a piece left out would show here.
    hv = start_hv("--service", guest("service-stub.elf"), "--autostart-guest", "--kernel", kernel,
                  "--initrd", initrd, "--append", APPEND, "--mem", "128", "--restore-always")
    hv.wait_console("guest", MARKER, timeout=20)
    hv.type("guest", COUNTER)
    hv.wait_console("guest", "tick-3", timeout=5)

    t0 = time.monotonic()
    typed = []
    for k in range(SWITCHES):
        hv.ok("switch", target="service")
        assert hv.vm("guest")["state"] == "frozen"
        if k % 10 == 0:  # typed while the guest is frozen: queued, read once it runs
            hv.type("guest", f"echo typed-$(({k}+1000))\n")
            typed.append(k + 1000)
        hv.ok("switch", target="guest")
        if k % 25 == 24:  # the count keeps rising between switches
            before = max(ticks(hv.console("guest")))
            hv.wait_for(lambda: max(ticks(hv.console("guest"))) > before, timeout=5,
                        what=f"the guest counting on after {k + 1} switches")
    took = time.monotonic() - t0
    print(f"linux: {SWITCHES} switches guest->service->guest in {took:.1f} s")
    assert hv.vm("guest")["switches_in"] >= SWITCHES

    for n in typed:
        hv.wait_console("guest", f"typed-{n}", timeout=5)
    # The guest's clock: `date +%s` within a second of the host's (the answer is taken between
    # typing and seeing it, so the window is that long plus a second each side).
    t_typed = time.time()
    hv.type("guest", "echo date-$(date +%s)-end\n")
    m = hv.wait_for(lambda: re.search(r"date-(\d+)-end", hv.console("guest")), timeout=5,
                    what="the guest's date")
    t_seen = time.time()
    gdate = int(m.group(1))
    print(f"linux: guest date {gdate}, host {t_typed:.1f}..{t_seen:.1f}")
    assert int(t_typed) - 1 <= gdate <= t_seen + 1

    # The kernel's banner through its page tables, as /proc/version shows it.
    smap = system_map(kernel, tmp_path / "System.map")
    if smap is None:
        return  # not the nested machine's kernel: no System.map for this kernel here
    hv.type("guest", 'echo "v-$(cat /proc/version)-v"\n')
    version = hv.wait_for(lambda: re.search(r"v-(Linux version .*?)-v\r?\n", hv.console("guest")),
                          timeout=5, what="/proc/version").group(1)
    hv.ok("switch", target="service")  # frozen: peek translates with its registers
    out = tmp_path / "banner"
    p = subprocess.run([str(HVCTL), "peek", "guest", hex(symbol(smap, "linux_banner")), "512",
                        "--virt", "--out", str(out)], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, VIGIL_HV_SOCKET=hv.sock_path))
    assert p.returncode == 0, p.stderr
    banner = out.read_bytes().split(b"\0")[0].decode().rstrip("\n")
    assert banner == version.rstrip(), (banner, version)
