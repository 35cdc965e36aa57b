/* elf_loader.c: the guest ELF loader; refuses anything odd with a message that names the problem.
 */
#include "x86/elf_loader.h"

#include "base/log.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PHDRS 64

static bool add_overflows(uint64_t a, uint64_t b, uint64_t *sum)
{
    return __builtin_add_overflow(a, b, sum);
}

static int check_header(const Elf64_Ehdr *eh, size_t file_len, char *err, size_t errlen)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return hv_fail(err, errlen, "not an ELF file (bad magic)");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64)
        return hv_fail(err, errlen, "not a 64-bit ELF file (class %u)", eh->e_ident[EI_CLASS]);
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return hv_fail(err, errlen, "not a little-endian ELF file");
    if (eh->e_machine != EM_X86_64)
        return hv_fail(err, errlen, "wrong architecture: e_machine %u, expected x86-64 (%u)",
                       eh->e_machine, EM_X86_64);
    if (eh->e_type != ET_EXEC)
        return hv_fail(err, errlen, "not a static executable: e_type %u, expected ET_EXEC",
                       eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return hv_fail(err, errlen, "bad program header size %u", eh->e_phentsize);
    if (eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS)
        return hv_fail(err, errlen, "bad program header count %u (1..%d)", eh->e_phnum, MAX_PHDRS);
    uint64_t ph_end;
    if (add_overflows(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), &ph_end) ||
        ph_end > file_len)
        return hv_fail(err, errlen, "truncated: program headers end past the file's %zu bytes",
                       file_len);
    return 0;
}

static int check_segment(const Elf64_Phdr *ph, int i, size_t file_len, uint64_t limit,
                         uint64_t prev_end, char *err, size_t errlen)
{
    uint64_t file_end, mem_end;
    if (ph->p_paddr != ph->p_vaddr)
        return hv_fail(err, errlen, "segment %d: p_paddr 0x%llx differs from p_vaddr 0x%llx", i,
                       (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_vaddr);
    if (ph->p_vaddr < ELF_LOAD_MIN_ADDR)
        return hv_fail(err, errlen, "segment %d: loads at 0x%llx, below the 1 MiB minimum", i,
                       (unsigned long long)ph->p_vaddr);
    if (ph->p_filesz > ph->p_memsz)
        return hv_fail(err, errlen, "segment %d: p_filesz %llu exceeds p_memsz %llu", i,
                       (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
    if (add_overflows(ph->p_offset, ph->p_filesz, &file_end) || file_end > file_len)
        return hv_fail(err, errlen, "truncated: segment %d's data ends past the file's %zu bytes",
                       i, file_len);
    if (add_overflows(ph->p_vaddr, ph->p_memsz, &mem_end))
        return hv_fail(err, errlen, "segment %d: p_vaddr + p_memsz overflows (p_memsz %llu)", i,
                       (unsigned long long)ph->p_memsz);
    if (mem_end > limit)
        return hv_fail(err, errlen,
                       "segment %d: [0x%llx, 0x%llx) does not fit in guest RAM (limit 0x%llx)", i,
                       (unsigned long long)ph->p_vaddr, (unsigned long long)mem_end,
                       (unsigned long long)limit);
    if (ph->p_vaddr < prev_end)
        return hv_fail(err, errlen,
                       "segment %d at 0x%llx overlaps or precedes the previous one (ends 0x%llx)",
                       i, (unsigned long long)ph->p_vaddr, (unsigned long long)prev_end);
    if ((ph->p_flags & PF_W) && (ph->p_flags & PF_X))
        return hv_fail(err, errlen, "segment %d at 0x%llx is both writable and executable (W+X)", i,
                       (unsigned long long)ph->p_vaddr);
    return 0;
}

int elf_check(const uint8_t *file, size_t file_len, uint64_t limit, struct elf_image *out,
              char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    if (file_len >= SELFMAG && memcmp(file, ELFMAG, SELFMAG) != 0)
        return hv_fail(err, errlen, "not an ELF file (bad magic)");
    if (file_len < sizeof eh)
        return hv_fail(err, errlen, "truncated: %zu bytes is shorter than an ELF header", file_len);
    memcpy(&eh, file, sizeof eh);
    if (check_header(&eh, file_len, err, errlen) < 0)
        return -1;

    uint64_t prev_end = 0, start = UINT64_MAX;
    bool entry_ok = false;
    int loads = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, file + eh.e_phoff + (size_t)i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        if (check_segment(&ph, i, file_len, limit, prev_end, err, errlen) < 0)
            return -1;
        prev_end = ph.p_vaddr + ph.p_memsz;
        if (ph.p_vaddr < start)
            start = ph.p_vaddr;
        if ((ph.p_flags & PF_X) && eh.e_entry >= ph.p_vaddr && eh.e_entry < prev_end)
            entry_ok = true;
        loads++;
    }
    if (loads == 0)
        return hv_fail(err, errlen, "no loadable segment");
    if (!entry_ok)
        return hv_fail(err, errlen, "entry point 0x%llx is not inside an executable segment",
                       (unsigned long long)eh.e_entry);
    out->entry = eh.e_entry;
    out->start = start;
    out->end = (prev_end + 4095) & ~4095ull;
    if (out->end > limit)
        out->end = limit;
    return 0;
}

int elf_load(const uint8_t *file, size_t file_len, uint8_t *mem, uint64_t mem_size,
             struct elf_image *out, char *err, size_t errlen)
{
    if (elf_check(file, file_len, mem_size, out, err, errlen) < 0)
        return -1;
    Elf64_Ehdr eh;
    memcpy(&eh, file, sizeof eh);
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, file + eh.e_phoff + (size_t)i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        memcpy(mem + ph.p_paddr, file + ph.p_offset, ph.p_filesz);
        memset(mem + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }
    return 0;
}

int elf_read_file(const char *path, size_t max_len, uint8_t **buf, size_t *len, char *err,
                  size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hv_fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return hv_fail(err, errlen, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return hv_fail(err, errlen, "%s is %lld bytes, more than the %zu-byte limit", path,
                       (long long)st.st_size, max_len);
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf) {
        close(fd);
        return hv_fail(err, errlen, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < *len) {
        ssize_t n = read(fd, *buf + got, *len - got);
        if (n <= 0) {
            free(*buf);
            close(fd);
            return hv_fail(err, errlen, "reading %s: %s", path,
                           n < 0 ? strerror(errno) : "short read");
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}
