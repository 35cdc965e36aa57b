"""test_linux.py: hv boots Debian's stock Linux kernel as a guest (docs/linux-guest.md)."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from linux_guest import BUSYBOX, MARKER, build_initramfs, guest_modules, kernel_path, system_map
from vigil import HV, guest, scaled

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
    # A kernel panic: Linux's pvpanic-pci driver tells hv at once through the PCI device's BAR;
    # hv's policy freezes the guest as crashed and writes a crash snapshot.
    t_panic = time.monotonic()
    hv.type("guest", "echo c > /proc/sysrq-trigger\n")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", timeout=10, what="the guest crashed")
    frozen = time.monotonic() - t_panic
    snaps = hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], timeout=30, what="a crash snapshot")
    assert snaps[0]["vm"] == "guest" and snaps[0]["trigger"] == "trap:pvpanic", snaps[0]
    assert "Kernel panic - not syncing: sysrq triggered crash" in hv.console("guest")
    meta = hv.ok("snapshot.show", id=snaps[0]["id"])["snapshot"]
    assert meta["exception"]["panic_reason"] == ("sysrq triggered crash" if smap else "unknown"), meta
    print(f"linux: core {meta.get('core_bytes', 0) >> 20} MiB, panic_reason {meta['exception']['panic_reason']!r}")
    assert any("pvpanic" in e["Message"] and "PCI" in e["Message"] for e in hv.ok("sel")["entries"])
    print(f"linux: typed the panic -> crashed in {frozen:.1f} s")
    print(f"linux: crashed and snapshotted {time.monotonic() - t0 - booted:.1f} s after the marker")
