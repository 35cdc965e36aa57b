"""test_linux_smp.py: a Linux guest with two vCPUs: hv's MP table names both and Linux brings
both up; both keep taking timer interrupts across a switch away and back; a snapshot's core has
both vCPUs (docs/linux-guest.md)."""
import re
import subprocess

from elfcore import Core
from linux_guest import MARKER
from test_linux import APPEND, initrd, kernel, needs_fast_cpl0  # noqa: F401 (fixtures)
from vigil import HVCTL, guest, scaled


def local_timer_counts(hv, tag):
    """Each CPU's local timer interrupts (the LOC line of /proc/interrupts), read in the guest."""
    hv.type("guest", f"awk '/LOC:/{{print \"{tag}-\" $2 \"-\" $3 \"-end\"}}' /proc/interrupts\n")
    m = hv.wait_for(lambda: re.search(rf"{tag}-(\d+)-(\d+)-end", hv.console("guest")), timeout=10,
                    what=f"the guest's timer counts ({tag})")
    return int(m.group(1)), int(m.group(2))


@needs_fast_cpl0
def test_linux_runs_on_two_vcpus_across_a_switch_and_into_its_core(start_hv, kernel, initrd, tmp_path):
    hv = start_hv("--service", guest("service-stub.elf"), "--autostart-guest", "--kernel", kernel,
                  "--initrd", initrd, "--append", APPEND, "--mem", "128", "--vcpus", "2")
    hv.wait_console("guest", MARKER, timeout=40)
    hv.type("guest", "echo cpus-$(grep -c ^processor /proc/cpuinfo)-end\n")
    m = hv.wait_for(lambda: re.search(r"cpus-(\d+)-end", hv.console("guest")), timeout=10,
                    what="the guest's CPU count")
    assert m.group(1) == "2", hv.console("guest")[-2000:]
    before = local_timer_counts(hv, "t1")
    assert min(before) > 0, before  # both CPUs take their LAPIC timer

    hv.ok("switch", target="service")
    assert hv.vm("guest")["state"] == "frozen"
    hv.ok("switch", target="guest")
    after = local_timer_counts(hv, "t2")
    assert after[0] > before[0] and after[1] > before[1], (before, after)  # both run on

    snap = hv.snapshot("guest")["snapshot"]
    core_path = tmp_path / "guest.core"
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, "snapshot", "export", snap["id"], str(core_path)],
                       capture_output=True, text=True, timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    cpus = Core(core_path).cpus
    assert len(cpus) == 2, cpus
    assert all(c["rip"] >= 0xffffffff80000000 for c in cpus), [hex(c["rip"]) for c in cpus]  # in the kernel
    assert hv.vm("guest")["state"] == "running"  # a snapshot lets the guest run again
