#!/usr/bin/env python3
"""linux-guest.py: the Linux guest `make run VIGIL_GUEST=linux` boots: prints hv's options for it.

Debian's kernel and its pvpanic-pci module come from the nested machine's kit
(scripts/kvm-machine/build.sh: linux-image-amd64 from apt); the initramfs (busybox-static, the
modules, an /init with a heartbeat line and a shell on ttyS0) is built once and cached in
${VIGIL_CACHE:-~/.cache/vigil}/linux-guest-<key>/, keyed by the kit, busybox and this script.
"""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from linux_guest import BUSYBOX, build_initramfs, guest_modules  # noqa: E402 (the cpio writer)

# /init: the modules (pvpanic-pci: a panic reaches hv at once), /proc and /dev, a heartbeat line
# every 10 s in the background, and a shell on the console (ttyS0).
INIT = """#!/bin/busybox sh
for m in $(/bin/busybox cat /lib/modules/order); do /bin/busybox insmod /lib/modules/$m; done
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
export PATH=/bin
/bin/busybox --install -s /bin
(n=0; while :; do n=$((n+1)); echo "[vigil-linux] heartbeat $n, up $(cut -d' ' -f1 /proc/uptime) s"; sleep 10; done) &
echo "Vigil's Linux guest: a shell on ttyS0. Crash it with: echo c > /proc/sysrq-trigger"
exec /bin/busybox sh
"""
APPEND = "console=ttyS0 nokaslr quiet cryptomgr.notests mitigations=off"


def die(msg):
    print(f"linux-guest: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    way = subprocess.run([str(ROOT / "scripts" / "vigil-kvm"), "--way"], capture_output=True, text=True)
    if way.stdout.strip() == "host" and Path("/sys/module/kvm_pvm").exists():
        die("this host's KVM is PVM, which emulates guest code at CPL 0 at ~2 M instructions/s: "
            "a Linux kernel would take hours to boot. Run it in the nested machine: "
            "VIGIL_KVM=vm make run VIGIL_GUEST=linux (docs/platforms.md)")
    if not BUSYBOX.exists():
        die("busybox-static is missing: run scripts/deps.sh")
    kit = subprocess.run([str(ROOT / "scripts" / "kvm-machine" / "build.sh")], capture_output=True, text=True)
    if kit.returncode != 0 or not kit.stdout.strip():
        die(f"no Debian kernel: scripts/kvm-machine/build.sh failed: {kit.stderr.strip()[-300:]}")
    kdir = Path(kit.stdout.strip().splitlines()[-1])
    kernel = kdir / "vmlinuz"
    key = hashlib.sha256(kdir.name.encode() + BUSYBOX.read_bytes()[:1 << 20] + INIT.encode() +
                         Path(__file__).read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("VIGIL_CACHE") or Path.home() / ".cache" / "vigil") / f"linux-guest-{key}"
    initrd = cache / "initrd.cpio"
    if not initrd.exists():
        cache.mkdir(parents=True, exist_ok=True)
        build_initramfs(cache / "initrd.cpio.tmp", guest_modules(kernel), init=INIT)
        os.replace(cache / "initrd.cpio.tmp", initrd)
    print(f"--kernel {kernel} --initrd {initrd} --append '{APPEND}' --mem 256")


if __name__ == "__main__":
    main()
