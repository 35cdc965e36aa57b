"""test_linux.py: hv boots Debian's stock Linux kernel as a guest (docs/linux-guest.md)."""
import os
import re
import struct
import subprocess
import time
from pathlib import Path

import pytest

from elfcore import Core, CoreError
from linux_guest import (BUSYBOX, MARKER, build_initramfs, guest_modules, kernel_path, symbol, symbol_range,
                         system_map)
from vigil import HV, HVCTL, guest, scaled

# On PVM, guest code at CPL 0 is emulated at ~2 M instructions/s (docs/platforms.md): Linux
# would take hours to boot.  The nested machine (VIGIL_KVM=vm) and real VT-x/AMD-V boot it.
ON_PVM = Path("/sys/module/kvm_pvm").exists() and os.environ.get("VIGIL_KVM_INSIDE") != "1"
needs_fast_cpl0 = pytest.mark.skipif(
    ON_PVM, reason="PVM emulates CPL 0 at ~2 M instr/s, too slow to boot Linux; run it in the nested machine: "
                   "VIGIL_KVM=vm scripts/vigil-kvm -- /usr/bin/python3 -m pytest tests/e2e/test_linux*.py")
# No kernel command line option hv needs but the console; the rest keeps the boot short in the
# nested machine, whose emulated CPU makes every instruction count: quiet (each console byte is
# an exit), no crypto self-tests (most of the boot there otherwise) and no speculation
# mitigations; nokaslr so addresses match System.map.
APPEND = "console=ttyS0 nokaslr quiet cryptomgr.notests mitigations=off"


@pytest.fixture(scope="module")
def kernel():
    k = kernel_path()
    if k is None:
        pytest.fail("no Debian kernel: scripts/kvm-machine/build.sh could not fetch linux-image-amd64")
    return str(k)


@pytest.fixture
def initrd(tmp_path, kernel):
    assert BUSYBOX.exists(), "busybox-static is missing: run scripts/deps.sh"
    return str(build_initramfs(tmp_path / "initrd.cpio", guest_modules(kernel)))


def test_a_bad_bzimage_is_refused_by_name(tmp_path, kernel):
    bad = tmp_path / "not-a-kernel"
    bad.write_bytes(b"\0" * 4096)
    for image, mem, want in ((bad, "256", 'not a Linux bzImage: no "HdrS" magic'),
                             (kernel, "32", "the kernel needs RAM up to"),
                             (kernel, "4096", "a Linux VM needs 16 MiB to 3072 MiB")):
        p = subprocess.run([str(HV), "--control", str(tmp_path / "s"), "--state-dir", str(tmp_path / "st"),
                            "--no-service", "--kernel", str(image), "--mem", mem],
                           capture_output=True, text=True, timeout=scaled(30))
        assert p.returncode != 0 and want in p.stderr, p.stderr
    p = subprocess.run([str(HV), "--no-service", "--guest", guest("demo.elf"), "--append", "x"],
                       capture_output=True, text=True, timeout=scaled(30))
    assert p.returncode != 0 and "--append applies to a --kernel VM" in p.stderr, p.stderr


def test_a_linux_vm_gets_its_platform(start_hv, kernel, initrd):
    """Created and running beside the service VM (its PIT, irqchip and MP table made), on every
    platform: this part needs no fast CPL 0."""
    hv = start_hv("--service", guest("service-stub.elf"), "--autostart-guest", "--kernel", kernel,
                  "--initrd", initrd, "--append", APPEND, "--mem", "128")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "running", what="the Linux guest running")
    assert hv.vm("service")["state"] == "running"


@needs_fast_cpl0
def test_debian_kernel_boots_takes_input_and_its_panic_freezes_it(start_hv, kernel, initrd, tmp_path):
    # With the kernel's System.map (where one can be made: docs/linux-guest.md) hv names the
    # panic reason from the guest's log buffer.
    smap = system_map(kernel, tmp_path / "System.map")
    t0 = time.monotonic()
    hv = start_hv("--service", guest("service-stub.elf"), "--autostart-guest", "--kernel", kernel,
                  "--initrd", initrd, "--append", APPEND, "--mem", "128",
                  *(["--system-map", str(smap)] if smap else []))
    # The busybox /init prints the marker with the kernel's uptime, then runs a shell on ttyS0.
    hv.wait_console("guest", MARKER, timeout=20)
    booted = time.monotonic() - t0
    line = next(l for l in hv.console("guest").splitlines() if MARKER in l)
    print(f"linux: {MARKER} after {booted:.1f} s wall ({line.strip()})")
    # Input reaches the shell through the UART's receive interrupt (IRQ 4).
    hv.type("guest", "echo answer-$((6*7))\n")
    hv.wait_console("guest", "answer-42", timeout=5)
    # Where the kernel put the pvpanic modules' sections (root reads real addresses there), and
    # the kernel's banner.  Short lines, each waited for: busybox's line editor lost the end of
    # a long typed-ahead line here.
    hv.type("guest", "mount -t sysfs sys /sys && echo sysfs-ok\n")
    hv.wait_console("guest", "\nsysfs-ok", timeout=5)
    hv.type("guest", "grep . /sys/module/pvpanic*/sections/.*\n")
    hv.wait_for(lambda: "pvpanic" in module_sections(hv.console("guest")), timeout=5, what="pvpanic's sections")
    hv.type("guest", 'echo "v-$(cat /proc/version)-v"\n')
    version = hv.wait_for(lambda: re.search(r"v-(Linux version .*?)-v\r?\n", hv.console("guest")),
                          timeout=5, what="/proc/version").group(1).rstrip()
    sections = module_sections(hv.console("guest"))
    # A kernel panic: Linux's pvpanic-pci driver tells hv at once through the PCI device's BAR;
    # hv's policy freezes the guest as crashed and writes a crash snapshot.
    t_panic = time.monotonic()
    hv.type("guest", "echo c > /proc/sysrq-trigger\n")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", timeout=10, what="the guest crashed")
    frozen = time.monotonic() - t_panic
    snaps = hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], timeout=30, what="a crash snapshot")
    snapped = time.monotonic() - t_panic
    print(f"linux: typed the panic -> crashed in {frozen:.2f} s, snapshot listed {snapped:.2f} s after the panic")
    assert snaps[0]["vm"] == "guest" and snaps[0]["trigger"] == "trap:pvpanic", snaps[0]
    assert "Kernel panic - not syncing: sysrq triggered crash" in hv.console("guest")
    meta = hv.ok("snapshot.show", id=snaps[0]["id"])["snapshot"]
    assert meta["exception"]["panic_reason"] == ("sysrq triggered crash" if smap else "unknown"), meta
    print(f"linux: core {meta.get('core_bytes', 0) >> 20} MiB, panic_reason {meta['exception']['panic_reason']!r}")
    assert any("pvpanic" in e["Message"] and "PCI" in e["Message"] for e in hv.ok("sel")["entries"])
    print(f"linux: crashed and snapshotted {time.monotonic() - t0 - booted:.1f} s after the marker")

    core_path = tmp_path / "guest.core"
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, "snapshot", "export", snaps[0]["id"],
                        str(core_path)], capture_output=True, text=True, timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    r = subprocess.run(["readelf", "-a", "-W", str(core_path)], capture_output=True, text=True)
    assert r.returncode == 0 and not re.search("warning|error", r.stdout + r.stderr, re.I), r.stderr
    if smap is None:
        pytest.skip("no System.map for this kernel (only the nested machine's own kernel has one: "
                    "docs/linux-guest.md), so the core's kernel symbols cannot be checked")
    check_core(Core(core_path), smap, sections, version, hv, tmp_path / "banner")


def module_sections(console):
    """{module: {section: address}} from `grep . /sys/module/M/sections/.*` on the console."""
    out = {}
    for mod, sec, addr in re.findall(r"/sys/module/(\w+)/sections/(\S+?):(0x[0-9a-f]+)", console):
        out.setdefault(mod, {})[sec] = int(addr, 16)
    return out


def module_text(sections, mod):
    """[start, end) of a module's .text: up to the next section above it."""
    secs = sections[mod]
    start = secs[".text"]
    return start, min((a for a in secs.values() if a > start), default=start + 1)


def check_core(core, smap, sections, version, hv, peek_out):
    """What a kernel engineer checks first in a panic's core: the panic in the log buffer, where
    the vCPU stopped, the call chain on its stack; all through the core's own page tables."""
    assert len(core.cpus) == 1, "the test boots one vCPU"
    cpu = core.cpus[0]
    read = lambda va, n: core.read_virt(0, va, n)  # noqa: E731
    # The banner, as /proc/version showed it, in the core and through hv's peek of the frozen guest.
    banner_va = symbol(smap, "linux_banner")
    assert read(banner_va, 512).split(b"\0")[0].decode().rstrip("\n") == version
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, "peek", "guest", hex(banner_va), "512", "--virt",
                        "--out", str(peek_out)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert peek_out.read_bytes().split(b"\0")[0].decode().rstrip("\n") == version

    # (a) printk's buffer: the `log_buf` pointer, then `log_buf_len` bytes of text where it points.
    buf = struct.unpack("<Q", read(symbol(smap, "log_buf"), 8))[0]
    size = struct.unpack("<I", read(symbol(smap, "log_buf_len"), 4))[0]
    assert 4096 <= size <= 32 << 20, size
    assert b"Kernel panic - not syncing: sysrq triggered crash" in read(buf, size)

    # (b) Where the vCPU stopped: pvpanic.ko's notifier writes PANICKED to the BAR with
    # iowrite8() (lib/iomap.c, kernel text), and the MMIO write exits there, so the saved RIP is in
    # iowrite8 and its caller, in the pvpanic module's text, is on the stack.  (pvpanic-pci.ko
    # only probes the PCI device; the panic notifier is in pvpanic.ko.)
    rip, rsp = cpu["rip"], cpu["rsp"]
    io_lo, io_hi = symbol_range(smap, "iowrite8")
    mods = {m: module_text(sections, m) for m in ("pvpanic", "pvpanic_pci") if ".text" in sections.get(m, {})}
    assert "pvpanic" in mods, f"no pvpanic module sections on the console: {sections}"
    stopped_in = ("iowrite8" if io_lo <= rip < io_hi else
                  next((m for m, (lo, hi) in mods.items() if lo <= rip < hi), None))
    assert stopped_in, f"RIP {rip:#x} is neither in iowrite8 [{io_lo:#x}, {io_hi:#x}) nor in {mods}"

    # (c) The call chain: return addresses on the stack (up to 8 KiB above RSP, or to the end of
    # the mapped stack) into the pvpanic module and into panic() itself.
    stack = b""
    for va in range(rsp, rsp + 8192, 8):
        try:
            stack += read(va, 8)
        except CoreError:
            break
    words = struct.unpack(f"<{len(stack) // 8}Q", stack)
    assert len(words) >= 16, f"stack at {rsp:#x} not readable"
    p_lo, p_hi = symbol_range(smap, "panic")
    assert any(p_lo < w < p_hi for w in words), f"no return address into panic [{p_lo:#x}, {p_hi:#x})"
    m_lo, m_hi = mods["pvpanic"]
    assert stopped_in != "iowrite8" or any(m_lo < w < m_hi for w in words), "iowrite8's caller is not pvpanic"
    print(f"linux: core: RIP {rip:#x} in {stopped_in}, panic() and pvpanic on the stack at {rsp:#x}, "
          f"log_buf {buf:#x} ({size >> 10} KiB) holds the panic")
