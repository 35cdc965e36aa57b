"""platform_info.py: names the KVM platform a benchmark ran on, for its JSON (timings differ by platform)."""
import os
import platform
from pathlib import Path


def kvm_platform():
    """One of: nested-tcg-svm (our nested machine), pvm, kvm-amd, kvm-intel, none."""
    if os.environ.get("VIGIL_KVM_INSIDE") == "1":
        return "nested-tcg-svm"
    mods = [m for m in ("kvm_pvm", "kvm_amd", "kvm_intel") if Path(f"/sys/module/{m}").exists()]
    if not Path("/dev/kvm").exists() or not mods:
        return "none"
    return {"kvm_pvm": "pvm", "kvm_amd": "kvm-amd", "kvm_intel": "kvm-intel"}[mods[0]]


def describe():
    """What a reader of a benchmark's JSON needs to compare numbers across machines."""
    info = {"platform": kvm_platform(), "nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if info["platform"] == "nested-tcg-svm":
        info["note"] = ("inside the nested machine: QEMU TCG emulates the L1 host, so absolute times are "
                        "10-40x a native host's; compare the ratios against QEMU measured in the same run")
    return info
