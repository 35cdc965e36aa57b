/* coredump: lay out the ELF core (header, PT_NOTE, PT_LOADs, notes, memory) and write it. */
#include "evidence/coredump_int.h"

#include "base/log.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int page_up(uint64_t x, uint64_t *out)
{
    if (__builtin_add_overflow(x, CORE_PAGE - 1, out))
        return -1;
    *out &= ~(uint64_t)(CORE_PAGE - 1);
    return 0;
}

/* Where everything goes; headers and notes are built in one buffer and written last. */
struct layout {
    uint8_t *head; /* Ehdr, Phdrs, notes */
    size_t head_len;
    uint64_t file_len; /* logical file size: end of the last PT_LOAD */
};

static int check_ranges(const struct core_mem_range *r, size_t nr, char *err, size_t errlen)
{
    /* e_phnum is 16 bits and PN_XNUM means "see section 0": keep one PT_NOTE + nr below it. */
    if (nr > PN_XNUM - 2) {
        hv_seterr(err, errlen, "coredump: %zu memory ranges, at most %d", nr, PN_XNUM - 2);
        return -1;
    }
    if (nr != 0 && r == NULL) {
        hv_seterr(err, errlen, "coredump: no range array");
        return -1;
    }
    for (size_t i = 0; i < nr; i++) {
        uint64_t last;

        if (r[i].len == 0 || r[i].host == NULL || (uintptr_t)r[i].host % CORE_PAGE != 0 ||
            __builtin_add_overflow(r[i].gpa, r[i].len - 1, &last)) {
            hv_seterr(err, errlen,
                      "coredump: range %zu (gpa 0x%llx, len 0x%llx) is empty, unmapped, "
                      "not page-aligned on the host or wraps",
                      i, (unsigned long long)r[i].gpa, (unsigned long long)r[i].len);
            return -1;
        }
        /* gdb and crash resolve an address to the first PT_LOAD covering it: no overlaps. */
        if (i > 0 && r[i].gpa <= r[i - 1].gpa + (r[i - 1].len - 1)) {
            hv_seterr(err, errlen, "coredump: range %zu (gpa 0x%llx) is not above range %zu", i,
                      (unsigned long long)r[i].gpa, i - 1);
            return -1;
        }
    }
    return 0;
}

static void put_ehdr(uint8_t *p, size_t phnum)
{
    Elf64_Ehdr e;

    memset(&e, 0, sizeof(e));
    memcpy(e.e_ident, ELFMAG, SELFMAG);
    e.e_ident[EI_CLASS] = ELFCLASS64;
    e.e_ident[EI_DATA] = ELFDATA2LSB;
    e.e_ident[EI_VERSION] = EV_CURRENT;
    e.e_ident[EI_OSABI] = ELFOSABI_NONE;
    e.e_type = ET_CORE;
    e.e_machine = EM_X86_64;
    e.e_version = EV_CURRENT;
    e.e_phoff = sizeof(Elf64_Ehdr);
    e.e_ehsize = sizeof(Elf64_Ehdr);
    e.e_phentsize = sizeof(Elf64_Phdr);
    e.e_phnum = (Elf64_Half)phnum;
    memcpy(p, &e, sizeof(e));
}

/*
 * PT_LOAD i: p_paddr is the guest-physical address as in QEMU. p_vaddr = p_paddr too, which is
 * what QEMU 7.2 writes with paging=false; our guests run identity-mapped, and gdb maps core
 * memory by p_vaddr only, so this is what makes `print var` work with the guest ELF.
 */
static void put_load(uint8_t *p, const struct core_mem_range *r, uint64_t off)
{
    Elf64_Phdr ph;

    memset(&ph, 0, sizeof(ph));
    ph.p_type = PT_LOAD;
    ph.p_offset = off;
    ph.p_vaddr = r->gpa;
    ph.p_paddr = r->gpa;
    ph.p_filesz = r->len; /* holes inside read as zeros, so tools see the whole range */
    ph.p_memsz = r->len;
    memcpy(p, &ph, sizeof(ph));
}

static int build_layout(struct layout *l, const struct core_mem_range *r, size_t nr,
                        const struct core_vcpu *v, size_t nv, const void *vmci, size_t vmci_len,
                        char *err, size_t errlen)
{
    size_t notes_len, notes_off = sizeof(Elf64_Ehdr) + (nr + 1) * sizeof(Elf64_Phdr);
    uint64_t off;
    Elf64_Phdr note;

    if (coredump_notes_size(nv, vmci_len, &notes_len) < 0 ||
        __builtin_add_overflow(notes_off, notes_len, &l->head_len)) {
        hv_seterr(err, errlen, "coredump: notes for %zu vCPUs + %zu B VMCOREINFO too large", nv,
                  vmci_len);
        return -1;
    }
    l->head = calloc(1, l->head_len);
    if (l->head == NULL) {
        hv_seterr(err, errlen, "coredump: no memory for %zu bytes of headers", l->head_len);
        return -1;
    }
    put_ehdr(l->head, nr + 1);

    memset(&note, 0, sizeof(note));
    note.p_type = PT_NOTE;
    note.p_offset = notes_off;
    note.p_filesz = notes_len;
    note.p_memsz = notes_len;
    memcpy(l->head + sizeof(Elf64_Ehdr), &note, sizeof(note));
    coredump_notes_fill(l->head + notes_off, v, nv, vmci, vmci_len);

    /* Memory starts on a page and each range on the next page, so zero pages can be holes. */
    l->file_len = l->head_len;
    if (page_up(l->head_len, &off) < 0)
        goto too_big;
    for (size_t i = 0; i < nr; i++) {
        put_load(l->head + sizeof(Elf64_Ehdr) + (i + 1) * sizeof(Elf64_Phdr), &r[i], off);
        if (__builtin_add_overflow(off, r[i].len, &l->file_len))
            goto too_big;
        if (i + 1 < nr && page_up(l->file_len, &off) < 0)
            goto too_big;
    }
    if (l->file_len > (uint64_t)INT64_MAX)
        goto too_big;
    return 0;

too_big:
    hv_seterr(err, errlen, "coredump: guest memory does not fit a file's 63-bit size");
    free(l->head);
    l->head = NULL;
    return -1;
}

static int check_fd(int fd, char *err, size_t errlen)
{
    struct stat sb;
    int fl;

    if (fstat(fd, &sb) < 0 || (fl = fcntl(fd, F_GETFL)) < 0) {
        hv_seterr(err, errlen, "coredump: bad file descriptor %d: %s", fd, strerror(errno));
        return -1;
    }
    /* Holes need a seekable regular file; O_APPEND would make pwrite ignore the offset. */
    if (!S_ISREG(sb.st_mode) || (fl & O_APPEND) || (fl & O_ACCMODE) == O_RDONLY) {
        hv_seterr(err, errlen, "coredump: fd %d: not a regular file open to write, no append", fd);
        return -1;
    }
    return 0;
}

int coredump_write(int fd, const struct core_mem_range *r, size_t nr, const struct core_vcpu *v,
                   size_t nv, const void *vmcoreinfo, size_t vmcoreinfo_len,
                   struct coredump_stats *st, char *err, size_t errlen)
{
    return coredump_write_flags(fd, r, nr, v, nv, vmcoreinfo, vmcoreinfo_len, 0, st, err, errlen);
}

int coredump_write_flags(int fd, const struct core_mem_range *r, size_t nr,
                         const struct core_vcpu *v, size_t nv, const void *vmcoreinfo,
                         size_t vmcoreinfo_len, unsigned flags, struct coredump_stats *st,
                         char *err, size_t errlen)
{
    struct coredump_stats local;
    struct layout l = {0};
    struct core_mem_writer w;
    double t0 = now();

    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof(*st));
    if ((nv != 0 && v == NULL) || (vmcoreinfo_len != 0 && vmcoreinfo == NULL)) {
        hv_seterr(err, errlen, "coredump: missing vCPU array or VMCOREINFO buffer");
        return -1;
    }
    if (sysconf(_SC_PAGESIZE) != CORE_PAGE) {
        hv_seterr(err, errlen, "coredump: host page size is not 4 KiB");
        return -1;
    }
    if (check_ranges(r, nr, err, errlen) < 0 || check_fd(fd, err, errlen) < 0 ||
        build_layout(&l, r, nr, v, nv, vmcoreinfo, vmcoreinfo_len, err, errlen) < 0)
        return -1;

    /* Truncating first drops old contents, so every page we do not write is a hole of zeros. */
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)l.file_len) < 0) {
        hv_seterr(err, errlen, "coredump: sizing the file to %llu bytes: %s",
                  (unsigned long long)l.file_len, strerror(errno));
        goto fail;
    }
    if (coredump_mem_begin(&w, fd, flags, st, err, errlen) < 0)
        goto fail;
    for (size_t i = 0; i < nr; i++) {
        Elf64_Phdr ph;

        memcpy(&ph, l.head + sizeof(Elf64_Ehdr) + (i + 1) * sizeof(Elf64_Phdr), sizeof(ph));
        if (coredump_mem_write(&w, &r[i], ph.p_offset) < 0)
            goto fail_end;
    }
    /* Headers last: a dump cut short by a crash of ours has no ELF magic, not a bogus core. */
    if (coredump_mem_write_head(&w, l.head, l.head_len) < 0)
        goto fail_end;
    if (coredump_mem_end(&w, true) < 0)
        goto fail;

    free(l.head);
    st->file_bytes = l.file_len;
    st->seconds = now() - t0;
    return 0;

fail_end:
    /* The fd is the caller's: give it back with the flags it came with, whatever happened,
     * and the flush-behind thread stopped. */
    (void)coredump_mem_end(&w, false);
fail:
    /* Best effort: leave no truncated core behind that a reader could mistake for a whole one. */
    if (ftruncate(fd, 0) < 0) {
        /* Keep the first error: it is the one that explains the failure. */
    }
    free(l.head);
    st->seconds = now() - t0;
    return -1;
}
