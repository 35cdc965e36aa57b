"""test_linux_gdb.py: the real gdb on a frozen Linux guest through hv's GDB stub: registers and
kernel memory, a breakpoint at a System.map address that hits, three single steps, and the guest
running on (docs/gdb-stub.md, docs/linux-guest.md)."""
import re

import pytest

from linux_guest import MARKER, symbol, system_map
from test_gdb import GDB, gdb, needs_breakpoints, peek, rips
from test_linux import APPEND, initrd, kernel, needs_fast_cpl0  # noqa: F401 (fixtures)
from vigil import guest, scaled

# A kernel function the guest runs only when asked: busybox `uname` makes the newuname system call.
BREAK_AT = "__x64_sys_newuname"


@needs_fast_cpl0
@needs_breakpoints
@pytest.mark.skipif(not GDB, reason="no gdb (scripts/deps.sh installs it)")
@pytest.mark.parametrize("kind", ["break", "hbreak"])  # an int3 in its text, or DR0
def test_gdb_breaks_in_a_frozen_linux_guest_steps_and_lets_it_run_on(start_hv, kernel, initrd, tmp_path, kind):
    smap = system_map(kernel, tmp_path / "System.map")
    if smap is None:
        pytest.skip("no System.map for this kernel (only the nested machine's own kernel has one: "
                    "docs/linux-guest.md)")
    bp, banner = symbol(smap, BREAK_AT), symbol(smap, "linux_banner")
    hv = start_hv("--service", guest("service-stub.elf"), "--autostart-guest", "--kernel", kernel,
                  "--initrd", initrd, "--append", APPEND, "--mem", "128")
    hv.wait_console("guest", MARKER, timeout=20)
    hv.type("guest", 'echo "v-$(cat /proc/version)-v"\n')
    version = hv.wait_for(lambda: re.search(r"v-(Linux version .*?)-v\r?\n", hv.console("guest")),
                          timeout=5, what="/proc/version").group(1).rstrip()
    hv.ok("switch", target="service")  # the guest is frozen where it stood
    assert hv.vm("guest")["state"] == "frozen"
    frozen_rip = hv.ok("regs", vm="guest")["vcpus"][0]["rip"] & (2**64 - 1)  # JSON: signed
    sock = hv.ok("gdb.start", vm="guest")["socket"]

    # gdb reads the frozen guest, plants the breakpoint and continues it (a switch to the guest);
    # then waits for the hit, steps three instructions and continues for good.
    # No vmlinux (Debian's with DWARF is the 859 MB -dbg package): raw addresses.
    p = gdb(sock, "info registers rip", f"x/s {banner:#x}", f"{kind} *{bp:#x}", "continue",
               "info registers rip", "stepi", "info registers rip", "stepi", "info registers rip",
               "stepi", "info registers rip", "delete", "continue", elf=None,
               setup=("set print elements 0", "set architecture i386:x86-64"))
    try:
        hv.wait_for(lambda: hv.vm("guest")["state"] == "running" and hv.status()["foreground"] == "guest",
                    timeout=scaled(60), what="the guest switched to by gdb's continue")
        hv.type("guest", "uname -r; echo after-$((6*7))\n")  # makes the newuname call: the hit
        hv.wait_console("guest", "after-42", timeout=60)  # it ran on past the breakpoint
        assert hv.vm("guest")["state"] == "running"
    finally:
        p.kill()
        out, _ = p.communicate(timeout=scaled(10))
    r = rips(out)
    assert len(r) == 5, out
    assert r[0] == frozen_rip, out  # the registers gdb reads are the frozen vCPU's
    assert version in out.replace("\\n", ""), out  # the kernel's banner through its page tables
    assert re.search(r"reakpoint 1, 0x0*%x" % bp, out), out  # the breakpoint hit... (Hardware b...)
    assert r[1] == bp, out  # ...at its address, not past the int3
    assert len(set(r[1:])) == 4 and all(0xffffffff80000000 <= x for x in r[1:]), out  # 3 steps in kernel text
    # gdb gone: the guest keeps running and takes input; the int3 is out of its text.
    hv.type("guest", "echo still-$((7*7))\n")
    hv.wait_console("guest", "still-49", timeout=30)
    hv.ok("pause", vm="guest")
    assert peek(hv, hex(bp), 1, virtual=True) != b"\xcc"  # (a kernel address goes as a string)
    hv.ok("resume", vm="guest")
