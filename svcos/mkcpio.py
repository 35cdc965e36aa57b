#!/usr/bin/env python3
"""mkcpio.py: pack directory trees into a reproducible cpio (newc) archive for an svcos image.

Usage: mkcpio.py OUT.cpio DIR [DIR...]   (later trees override earlier ones; entries are
sorted, owned by root, and stamped with SOURCE_DATE_EPOCH or 0, so builds are byte-identical).
"""
import os
import stat
import sys


def header(ino, mode, nlink, mtime, size, namesize):
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, namesize, 0]
    return b"070701" + b"".join(b"%08x" % f for f in fields)


def pad4(n):
    return b"\0" * (-n % 4)


def collect(roots):
    entries = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in dirnames + sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                entries[rel] = full
    return [(rel, entries[rel]) for rel in sorted(entries)]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, roots = sys.argv[1], sys.argv[2:]
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    blob = bytearray()
    for ino, (rel, full) in enumerate(collect(roots), start=1):
        st = os.lstat(full)
        perm = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            mode, data = stat.S_IFDIR | perm, b""
        elif stat.S_ISLNK(st.st_mode):
            mode, data = stat.S_IFLNK | 0o777, os.readlink(full).encode()
        elif stat.S_ISREG(st.st_mode):
            mode = stat.S_IFREG | perm
            with open(full, "rb") as f:
                data = f.read()
        else:
            sys.exit(f"mkcpio: {full}: only directories, files and symlinks can be packed")
        name = rel.encode() + b"\0"
        blob += header(ino, mode, 2 if stat.S_ISDIR(mode) else 1, mtime, len(data), len(name))
        blob += name + pad4(110 + len(name)) + data + pad4(len(data))
    name = b"TRAILER!!!\0"
    blob += header(0, 0, 1, 0, 0, len(name)) + name + pad4(110 + len(name))
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
