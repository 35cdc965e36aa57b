"""elfcore.py: an independent reader of hv's ELF cores (docs/coredump.md): memory, vCPU notes,
and an x86-64 page-table walk over the core's memory.  It shares no code with hv's writer on
purpose: the tests use it to check what hv wrote."""
import struct

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS = 1
# x86_64 struct user_regs_struct, as pr_reg lays it out (offset 112 of the 336-byte prstatus).
PR_REGS = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss "
           "fs_base gs_base ds es fs gs").split()
PRSTATUS_SIZE, PR_REG_OFF = 336, 112
QEMU_CR_OFF = 392  # QEMUCPUState: cr[5] after the ten 24-byte segment records
PHYS_MASK = 0x000FFFFFFFFFF000  # bits 51:12 of a page-table entry or CR3
CR4_LA57 = 1 << 12


class CoreError(Exception):
    """The file is not a core this reader understands, or an address is not in it."""


class Core:
    """An ELF64 x86-64 core: `segments` [(paddr, offset, filesz, memsz)], `cpus` [dict of
    registers per vCPU, with "cr0".."cr4" from the QEMU notes], `vmcoreinfo` (bytes or None)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self._header()
        self._notes()

    def _header(self):
        d = self.data
        if len(d) < 64 or d[:4] != b"\x7fELF":
            raise CoreError("not an ELF file (no \\x7fELF magic)")
        if d[4] != 2 or d[5] != 1:
            raise CoreError(f"not ELF64 little-endian (class {d[4]}, data {d[5]})")
        e_type, e_machine = struct.unpack_from("<HH", d, 16)
        if e_type != 4 or e_machine != 62:
            raise CoreError(f"not an x86-64 core (e_type {e_type}, e_machine {e_machine})")
        phoff, = struct.unpack_from("<Q", d, 32)
        phentsize, phnum = struct.unpack_from("<HH", d, 54)
        if phentsize != 56 or phoff + phnum * 56 > len(d):
            raise CoreError(f"program headers ({phnum} x {phentsize} at {phoff}) do not fit the file")
        self.segments, self.notes_raw = [], b""
        for i in range(phnum):
            p_type, _flags, off, _vaddr, paddr, filesz, memsz, _align = struct.unpack_from(
                "<IIQQQQQQ", d, phoff + i * 56)
            if filesz > memsz or (p_type in (PT_LOAD, PT_NOTE) and off + filesz > len(d)):
                raise CoreError(f"segment {i} (offset {off}, {filesz} bytes) lies outside the file")
            if p_type == PT_LOAD:
                self.segments.append((paddr, off, filesz, memsz))
            elif p_type == PT_NOTE:
                self.notes_raw += d[off:off + filesz]
        if not self.segments:
            raise CoreError("no PT_LOAD segment: the core holds no memory")
        self.segments.sort()

    def _notes(self):
        d, pos, regs, crs = self.notes_raw, 0, [], []
        self.vmcoreinfo = None
        while pos + 12 <= len(d):
            namesz, descsz, ntype = struct.unpack_from("<III", d, pos)
            name_at = pos + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            end = desc_at + (descsz + 3) // 4 * 4
            if end > len(d):
                raise CoreError(f"note at {pos} runs past the end of the notes")
            name, desc = d[name_at:name_at + namesz].rstrip(b"\0"), d[desc_at:desc_at + descsz]
            if name == b"CORE" and ntype == NT_PRSTATUS:
                if descsz != PRSTATUS_SIZE:
                    raise CoreError(f"NT_PRSTATUS of {descsz} bytes, not x86-64's {PRSTATUS_SIZE}")
                regs.append(dict(zip(PR_REGS, struct.unpack_from("<27Q", desc, PR_REG_OFF))))
            elif name == b"QEMU":
                _version, size = struct.unpack_from("<II", desc, 0) if descsz >= 8 else (0, 0)
                if size != descsz or size < QEMU_CR_OFF + 40:
                    raise CoreError(f"QEMU CPU note of {descsz} bytes says size {size}")
                crs.append(dict(zip(("cr0", "cr1", "cr2", "cr3", "cr4"),
                                    struct.unpack_from("<5Q", desc, QEMU_CR_OFF))))
            elif name == b"VMCOREINFO":
                self.vmcoreinfo = desc
            pos = end
        if not regs:
            raise CoreError("no NT_PRSTATUS note: the core holds no vCPU")
        if len(crs) != len(regs):
            raise CoreError(f"{len(regs)} NT_PRSTATUS notes but {len(crs)} QEMU CPU notes")
        # Both kinds come in vCPU order, so the i-th of each is vCPU i.
        self.cpus = [dict(r, **c) for r, c in zip(regs, crs)]

    def read_phys(self, addr, n):
        """n bytes of guest-physical memory; bytes past a segment's p_filesz read as zeros."""
        out = b""
        while n > 0:
            seg = next((s for s in self.segments if s[0] <= addr < s[0] + s[3]), None)
            if seg is None:
                raise CoreError(f"physical address {addr:#x} is in no PT_LOAD segment")
            paddr, off, filesz, memsz = seg
            take = min(n, paddr + memsz - addr)
            rel = addr - paddr
            chunk = self.data[off + rel:off + min(rel + take, filesz)] if rel < filesz else b""
            out += chunk + b"\0" * (take - len(chunk))
            addr, n = addr + take, n - take
        return out

    def _entry(self, table, index):
        return struct.unpack("<Q", self.read_phys(table + index * 8, 8))[0]

    def translate(self, cpu, va):
        """The physical address of virtual `va` through vCPU `cpu`'s page tables (CR3): 4-level
        paging with 4 KiB, 2 MiB and 1 GiB pages."""
        c = self.cpus[cpu]
        if c["cr4"] & CR4_LA57:
            raise CoreError("5-level paging (CR4.LA57) is not supported")
        top = va >> 47
        if top not in (0, 0x1FFFF):
            raise CoreError(f"{va:#x} is not canonical (bits 63:47 differ)")
        table = c["cr3"] & PHYS_MASK
        for level, shift in enumerate((39, 30, 21, 12)):
            e = self._entry(table, (va >> shift) & 0x1FF)
            if not e & 1:
                raise CoreError(f"{va:#x} is not mapped (level {4 - level} entry {e:#x} not present)")
            if shift in (30, 21) and e & 0x80:  # PS: a 1 GiB or 2 MiB page
                size = 1 << shift
                return (e & PHYS_MASK & ~(size - 1)) | (va & (size - 1))
            table = e & PHYS_MASK
        return table | (va & 0xFFF)

    def read_virt(self, cpu, va, n):
        """n bytes at kernel or user virtual address `va`, page by page through vCPU `cpu`'s tables."""
        out = b""
        while n > 0:
            take = min(n, 0x1000 - (va & 0xFFF))
            out += self.read_phys(self.translate(cpu, va), take)
            va, n = va + take, n - take
        return out
