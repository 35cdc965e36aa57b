"""test_elfcore.py: the tests' core reader (elfcore.py) walks page tables right and refuses bad
files by name; on a core hv wrote it finds the registers hv reported and the guest's memory."""
import struct
import subprocess

import pytest

from elfcore import Core, CoreError
from vigil import HVCTL, guest, scaled

NX = 1 << 63
P, RW, PS = 1, 2, 0x80
MEM = 4 << 20  # the made-up core's RAM: one PT_LOAD at physical 0


def make_core(mem, cr3, rip=0x1234, phdr_patch=None):
    """An ELF64 core as docs/coredump.md lays it out: PT_NOTE (one CORE prstatus, one QEMU CPU
    state with cr3) and one PT_LOAD of `mem` at physical 0."""
    def note(name, ntype, desc):
        n = name + b"\0"
        return (struct.pack("<III", len(n), len(desc), ntype) + n + b"\0" * (-len(n) % 4) + desc
                + b"\0" * (-len(desc) % 4))
    prstatus = bytearray(336)
    struct.pack_into("<Q", prstatus, 112 + 16 * 8, rip)
    qemu = bytearray(440)
    struct.pack_into("<II", qemu, 0, 1, 440)
    struct.pack_into("<5Q", qemu, 392, 0x80050033, 0, 0, cr3, 0x20)
    notes = note(b"CORE", 1, bytes(prstatus)) + note(b"QEMU", 0, bytes(qemu))
    notes_off, mem_off = 64 + 2 * 56, 0x1000
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), len(notes), 0),
             struct.pack("<IIQQQQQQ", 1, 0, mem_off, 0, 0, len(mem), len(mem), 0)]
    if phdr_patch:
        phdrs[1] = phdr_patch
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8 +
            struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, 64, 0, 0, 64, 56, 2, 0, 0, 0))
    head = ehdr + b"".join(phdrs) + notes
    return head + b"\0" * (mem_off - len(head)) + bytes(mem)


def tables():
    """RAM with 4-level tables at 0x1000 mapping the three page sizes, and a marker in each page."""
    mem = bytearray(MEM)
    put = lambda at, v: struct.pack_into("<Q", mem, at, v)  # noqa: E731
    put(0x1000 + 511 * 8, 0x2000 | P | RW)        # PML4[511] -> PDPT 0x2000
    put(0x1000 + 0 * 8, 0x6000 | P | RW)          # PML4[0]   -> PDPT 0x6000
    put(0x6000 + 1 * 8, 0x0 | P | RW | PS)        # 0x40000000: a 1 GiB page at physical 0
    put(0x2000 + 510 * 8, 0x3000 | P | RW)        # 0xffffffff80000000 -> PD 0x3000
    put(0x3000 + 0 * 8, 0x200000 | P | PS | NX)   # +0: a 2 MiB page at 0x200000 (NX is no address bit)
    put(0x3000 + 1 * 8, 0x4000 | P | RW)          # +2 MiB -> PT 0x4000
    put(0x4000 + 5 * 8, 0x5000 | P | NX)          # +2 MiB + 5 pages: a 4 KiB page at 0x5000
    put(0x4000 + 6 * 8, 0x7000 | P)               # the next page: at 0x7000, not 0x6000
    mem[0x201234:0x201238] = b"2MiB"
    mem[0x5ffc:0x6000] = b"4Ki-"
    mem[0x7000:0x7004] = b"page"
    mem[0x123456:0x12345a] = b"1GiB"
    return mem


def test_the_walk_maps_4k_2m_and_1g_pages(tmp_path):
    f = tmp_path / "core"
    f.write_bytes(make_core(tables(), cr3=0x1000 | 0x18))  # PCD/PWT bits in CR3 are no address
    c = Core(f)
    assert len(c.cpus) == 1 and c.cpus[0]["rip"] == 0x1234 and c.cpus[0]["cr3"] == 0x1018
    k = 0xffffffff80000000
    assert c.translate(0, k + 0x1234) == 0x201234
    assert c.read_virt(0, k + 0x1234, 4) == b"2MiB"
    assert c.translate(0, 0x40123456) == 0x123456 and c.read_virt(0, 0x40123456, 4) == b"1GiB"
    # Across a 4 KiB page boundary onto a page that is not physically next.
    assert c.read_virt(0, k + 0x200000 + 5 * 0x1000 + 0xffc, 8) == b"4Ki-page"
    with pytest.raises(CoreError, match="not mapped"):
        c.translate(0, k + 0x600000)
    with pytest.raises(CoreError, match="not canonical"):
        c.translate(0, 0x0000800000000000)
    with pytest.raises(CoreError, match="in no PT_LOAD"):
        c.read_phys(MEM - 2, 4)


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:40], "not an ELF file"),
    (lambda b: b"\x7fELG" + b[4:], "not an ELF file"),
    (lambda b: b[:18] + struct.pack("<H", 3) + b[20:], "not an x86-64 core"),
    (lambda b: b[:0x1000 + 100], "lies outside the file"),
    (lambda b: b[:64 + 112 + 4] + struct.pack("<I", 300) + b[64 + 112 + 8:], "NT_PRSTATUS of 300 bytes"),
])
def test_bad_cores_are_refused_by_name(tmp_path, damage, message):
    f = tmp_path / "core"
    f.write_bytes(damage(make_core(bytearray(MEM), cr3=0x1000)))
    with pytest.raises(CoreError, match=message):
        Core(f)


def test_it_reads_what_hv_wrote(start_hv, tmp_path):
    """hv's own guest runs identity-mapped: through its CR3 a virtual address reads the same bytes
    as the physical one, and the notes hold the faulting RIP the snapshot reported."""
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest")
    hv.wait_console("guest", "demo>")
    hv.type("guest", "crash ud2\n")
    snap = hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], what="snapshot")[0]
    out = tmp_path / "guest.core"
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, "snapshot", "export", snap["id"], str(out)],
                       capture_output=True, text=True, timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    c = Core(out)
    assert c.cpus[0]["rip"] == int(snap["registers"]["rip"], 16)
    assert c.cpus[0]["cr0"] & 0x80000000 and c.cpus[0]["cr3"]  # paging on
    assert c.read_virt(0, 0x100000, 4096) == c.read_phys(0x100000, 4096) != b"\0" * 4096
