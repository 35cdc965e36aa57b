"""l2peer.py: the benchmarks' Linux L2 peer: Debian's kernel under QEMU -accel kvm with virtio-net and -netdev user.

The kernel, its modules and busybox come from the nested machine's kit (scripts/kvm-machine);
the initramfs is built per run around a server given by the benchmark: host programs are copied
in with the shared libraries `ldd` names (the nested machine sees the host's Debian root), data
files as they are.  The guest takes a static address on slirp's network and runs the server on
its console; hostfwd rules reach it from 127.0.0.1.
"""
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import platform_info

ROOT = Path(__file__).resolve().parents[1]

# /init up to the server: the kit's modules (virtio-pci, virtio-net; the rest may fail), then a
# static address on slirp's network.  The server's command follows.
INIT_HEAD = """#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /lib/modules/order); do
  a=$(grep "^${m%.ko} " /etc/modargs 2>/dev/null | cut -d" " -f2-); insmod /lib/modules/$m $a 2>/dev/null
done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
echo "l2peer: eth0 mtu $(cat /sys/class/net/eth0/mtu)," \
  "virtio_net napi_tx $(cat /sys/module/virtio_net/parameters/napi_tx 2>/dev/null), starting the server"
"""


def kit():
    """The nested machine's kit (Debian's kernel and modules, busybox): scripts/kvm-machine."""
    try:
        out = subprocess.run([str(ROOT / "scripts" / "kvm-machine" / "build.sh")], capture_output=True,
                             text=True, timeout=600).stdout.strip()
        if out and (Path(out) / ".complete").exists():
            return Path(out)
    except (OSError, subprocess.SubprocessError):
        pass
    cache = Path(os.environ.get("VIGIL_CACHE") or Path.home() / ".cache" / "vigil")
    kits = sorted(cache.glob("kvm-machine-*/.complete"), key=lambda p: p.stat().st_mtime)
    if not kits:
        sys.exit("no nested machine kit: scripts/kvm-machine/build.sh makes one")
    return kits[-1].parent


def _libs(program):
    """The shared libraries a dynamically linked host program loads (none for a static one)."""
    out = subprocess.run(["ldd", str(program)], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            libs.append(Path(path))
    return libs


def initramfs(tmp, k, server_cmd, programs=(), files=None, modargs=None):
    """The kit's initramfs plus /init (INIT_HEAD, then server_cmd, then poweroff), host programs
    (copied to /bin with their libraries at their own paths), files ({guest path: host path}) and
    module parameters ({module: "param=value ..."}, given to its insmod)."""
    root = tmp / "l2root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], input=gzip.decompress((k / "initramfs.gz").read_bytes()),
                   cwd=root, check=True)
    (root / "init").write_text(INIT_HEAD + server_cmd + "\npoweroff -f\n")
    (root / "init").chmod(0o755)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "modargs").write_text("".join(f"{m} {a}\n" for m, a in (modargs or {}).items()))
    for tool in ("ip", "mount", "insmod", "cat", "poweroff", "mkdir"):
        if not (root / "bin" / tool).exists():
            (root / "bin" / tool).symlink_to("busybox")
    for prog in programs:
        prog = Path(prog)
        shutil.copy(prog, root / "bin" / prog.name)
        for lib in _libs(prog):
            dest = root / str(lib).lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(lib.resolve(), dest)
    for guest_path, host_path in (files or {}).items():
        dest = root / guest_path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(host_path, dest)
    out = tmp / "l2.cpio.gz"
    names = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=names,
                          capture_output=True, check=True).stdout
    out.write_bytes(gzip.compress(cpio, 1))
    shutil.rmtree(root)
    return out


def qemu_cmd(tmp, k, initrd, forwards, mem=512, accel="kvm", nic="virtio-net-pci", append=""):
    """QEMU's command line: forwards are (host port, guest port) pairs on 127.0.0.1; append adds
    to the kernel's command line."""
    cpu = "host" if accel == "kvm" else "max"
    if platform_info.kvm_platform() == "nested-tcg-svm":
        # There an L2 Linux's init dies in rt_sigreturn ("bad frame"): the emulated SVM mangles
        # XSAVE signal frames.  Without XSAVE the kernel saves FPU state with FXSAVE.
        cpu += ",xsave=off"
    fwd = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in forwards)
    return ["qemu-system-x86_64", "-accel", accel, "-cpu", cpu, "-m", str(mem), "-smp", "1",
            "-kernel", str(k / "vmlinuz"), "-initrd", str(initrd),
            # As docs/linux-guest.md boots it: without these Debian's kernel takes minutes in the
            # nested machine (each console byte is an exit, the crypto self-tests are slow under
            # TCG); mitigations only make the peer slower.
            "-append", "console=ttyS0 quiet cryptomgr.notests mitigations=off panic=-1 " + append,
            "-no-reboot", "-display", "none",
            "-serial", f"file:{tmp / 'l2.console'}", "-monitor", "none",
            "-netdev", f"user,id=n0{fwd}", "-device", f"{nic},netdev=n0"]


def kernel_version(k):
    return (k / "versions").read_text().splitlines()[0]


def console_tail(tmp, n=3000):
    c = tmp / "l2.console"
    return c.read_text(errors="replace")[-n:] if c.exists() else ""
