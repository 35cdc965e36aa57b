"""linux_guest.py: what the Linux guest tests boot: Debian's kernel and a busybox initramfs."""
import os
import stat
import subprocess
from pathlib import Path

from vigil import ROOT

BUSYBOX = Path("/bin/busybox")  # busybox-static (scripts/deps.sh)
MARKER = "VIGIL-LINUX-UP"

# /init: loads the modules it was given (pvpanic-pci), mounts /proc and /dev (a background job's
# stdin is /dev/null), says it is up (with the kernel's uptime), then runs a shell on the console,
# which is ttyS0: the test types into it through hvctl's console.
INIT = f"""#!/bin/busybox sh
for m in $(/bin/busybox cat /lib/modules/order); do /bin/busybox insmod /lib/modules/$m; done
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
read up idle < /proc/uptime
echo "{MARKER} uptime=$up"
export PATH=/bin
/bin/busybox --install -s /bin
exec /bin/busybox sh
"""

def kernel_path():
    """Debian's stock bzImage: the one the nested machine's kit holds (scripts/kvm-machine),
    built or found in the cache; None if there is none and it cannot be built here."""
    try:
        p = subprocess.run([str(ROOT / "scripts" / "kvm-machine" / "build.sh")], capture_output=True,
                           text=True, timeout=600)
        if p.returncode == 0 and p.stdout.strip():
            kit = Path(p.stdout.strip().splitlines()[-1])
            if (kit / "vmlinuz").exists():
                return kit / "vmlinuz"
    except (OSError, subprocess.TimeoutExpired):
        pass
    cache = Path(os.environ.get("VIGIL_CACHE") or Path.home() / ".cache" / "vigil")
    kits = sorted(cache.glob("kvm-machine-*/vmlinuz"), key=lambda k: k.stat().st_mtime)
    return kits[-1] if kits else None


def _cpio_entry(name, mode, data=b"", rdev=(0, 0), ino=1):
    """One "newc" cpio entry: the header's 13 fields in hex, the name, the data, 4-byte padded."""
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08x" % f for f in fields) + name.encode() + b"\0"
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def guest_modules(kernel):
    """The kernel modules the kit keeps for guests (pvpanic, pvpanic-pci), in insmod order."""
    d = Path(kernel).parent / "guest-modules"
    order = d / "order"
    return [d / n for n in order.read_text().split()] if order.exists() else []


def build_initramfs(path, modules=(), init=INIT):
    """An uncompressed newc initramfs with busybox as /bin/busybox, /init, /dev/console (written
    directly: a device node needs no root this way) and `modules` in /lib/modules."""
    entries = [("dev", stat.S_IFDIR | 0o755), ("bin", stat.S_IFDIR | 0o755), ("proc", stat.S_IFDIR | 0o755),
               ("sys", stat.S_IFDIR | 0o755), ("lib", stat.S_IFDIR | 0o755),
               ("lib/modules", stat.S_IFDIR | 0o755)]
    out = b""
    ino = 1
    for name, mode in entries:
        out += _cpio_entry(name, mode, ino=ino)
        ino += 1
    out += _cpio_entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1), ino=ino)
    out += _cpio_entry("bin/busybox", stat.S_IFREG | 0o755, BUSYBOX.read_bytes(), ino=ino + 1)
    out += _cpio_entry("init", stat.S_IFREG | 0o755, init.encode(), ino=ino + 2)
    ino += 3
    for m in modules:
        out += _cpio_entry(f"lib/modules/{Path(m).name}", stat.S_IFREG | 0o644, Path(m).read_bytes(), ino=ino)
        ino += 1
    order = "".join(f"{Path(m).name}\n" for m in modules).encode()
    out += _cpio_entry("lib/modules/order", stat.S_IFREG | 0o644, order, ino=ino)
    out += _cpio_entry("TRAILER!!!", 0, ino=0)
    Path(path).write_bytes(out)
    return path


def system_map(kernel, dest):
    """A System.map of `kernel` without KASLR, or None.  Debian's linux-image packages ship a
    placeholder System.map (the real one is in the 859 MB -dbg package); where the kernel
    running here is the same build (the nested machine runs the kit's kernel), its
    /proc/kallsyms minus its KASLR offset is that map (percpu symbols, below the kernel's
    base, do not move)."""
    version = (Path(kernel).parent / "versions").read_text().split("=")[0].removeprefix("linux-image-")
    if os.uname().release != version:
        return None
    lines = Path("/proc/kallsyms").read_text().splitlines()
    text = next((int(l.split()[0], 16) for l in lines if l.endswith(" _text")), 0)
    if not text:
        return None  # kptr_restrict hides the addresses
    shift = text - 0xffffffff81000000
    out = []
    for l in lines:
        f = l.split()
        if len(f) != 3:
            continue  # a module's symbol
        a = int(f[0], 16)
        out.append(f"{(a - shift) if a >= 0xffffffff80000000 else a:016x} {f[1]} {f[2]}\n")
    Path(dest).write_text("".join(out))
    return Path(dest)


def map_symbols(map_path):
    """[(address, type, name)] of a System.map, in its (address) order."""
    return [(int(f[0], 16), f[1], f[2]) for f in (l.split() for l in Path(map_path).read_text().splitlines())
            if len(f) == 3]


def symbol(map_path, name, syms=None):
    """The address System.map gives `name` (syms: its map_symbols(), if already read)."""
    for addr, _, n in syms or map_symbols(map_path):
        if n == name:
            return addr
    raise KeyError(name)


def symbol_range(map_path, name):
    """[start, end) of `name` in System.map: from its address up to the next higher one (text
    symbols have no sizes there; the next symbol bounds it)."""
    syms = map_symbols(map_path)
    start = symbol(map_path, name, syms)
    return start, min((a for a, _, _ in syms if a > start), default=start + 1)
