/* coredump internals: byte layouts of the x86_64 core notes and the module's shared helpers. */
#ifndef VIGIL_HV_COREDUMP_INT_H
#define VIGIL_HV_COREDUMP_INT_H

#include "evidence/coredump.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* File layout unit: holes and data runs start on guest (= host) 4 KiB pages. */
#define CORE_PAGE 4096u

/* user_regs_struct of x86_64 Linux, the pr_reg that gdb and crash read from NT_PRSTATUS. */
struct core_user_regs {
    uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10;
    uint64_t r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax;
    uint64_t rip, cs, eflags, rsp, ss;
    uint64_t fs_base, gs_base;
    uint64_t ds, es, fs, gs;
};

/* Linux's x86_64 struct elf_prstatus, spelled with fixed-width types. */
struct core_prstatus {
    int32_t si_signo, si_code, si_errno; /* pr_info */
    int16_t cursig;
    uint16_t pad0;
    uint64_t sigpend, sighold;
    int32_t pid, ppid, pgrp, sid;
    uint64_t utime[2], stime[2], cutime[2], cstime[2]; /* struct timeval */
    struct core_user_regs reg;
    int32_t fpvalid;
    uint32_t pad1;
};

_Static_assert(sizeof(struct core_user_regs) == 27 * 8, "user_regs_struct is 27 words");
_Static_assert(offsetof(struct core_prstatus, pid) == 32, "pr_pid at 32");
_Static_assert(offsetof(struct core_prstatus, reg) == 112, "pr_reg at 112");
_Static_assert(sizeof(struct core_prstatus) == 336, "x86_64 elf_prstatus is 336 bytes");

/* QEMU's QEMUCPUSegment: flags are the descriptor's high dword bits 8-23, as QEMU keeps them. */
struct core_qemu_seg {
    uint32_t selector, limit, flags, pad;
    uint64_t base;
};

/* QEMU's QEMUCPUState, version 1; readers check size, so trailing fields are optional. */
struct core_qemu_cpu {
    uint32_t version, size;
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
    struct core_qemu_seg cs, ds, es, fs, gs, ss;
    struct core_qemu_seg ldt, tr, gdt, idt;
    uint64_t cr[5];
    uint64_t kernel_gs_base;
};

_Static_assert(sizeof(struct core_qemu_seg) == 24, "QEMUCPUSegment is 24 bytes");
_Static_assert(offsetof(struct core_qemu_cpu, rip) == 136, "QEMUCPUState.rip at 136");
_Static_assert(offsetof(struct core_qemu_cpu, cr) == 392, "QEMUCPUState.cr at 392");
_Static_assert(sizeof(struct core_qemu_cpu) == 440, "QEMUCPUState is 440 bytes (QEMU 7.2)");

#define CORE_QEMU_CPU_VERSION 1u

/* The note section: per-vCPU NT_PRSTATUS, per-vCPU "QEMU", then VMCOREINFO, as QEMU orders. */
int coredump_notes_size(size_t nv, size_t vmcoreinfo_len, size_t *out);
void coredump_notes_fill(uint8_t *buf, const struct core_vcpu *v, size_t nv, const void *vmcoreinfo,
                         size_t vmcoreinfo_len);

/*
 * Writes the non-zero pages of ranges at given file offsets; holes are left for the rest.
 * Large runs go with O_DIRECT (set on the fd with F_SETFL only for them): straight from guest
 * RAM to the disk, no page-cache copy, no dirty throttling, steady speed. Small runs go through
 * the page cache, where scattered 4 KiB writes are far cheaper than synchronous direct I/O.
 * On a memory file system (tmpfs, ramfs) everything is a plain write: there is no disk.
 */
struct core_flusher; /* COREDUMP_DURABLE on a disk: the thread that fdatasyncs behind */
struct core_mem_writer {
    int fd;
    int fl_orig;       /* file status flags to restore */
    bool use_mincore;  /* false when swap exists: non-resident may then mean swapped out */
    bool memfs;        /* tmpfs or ramfs: no O_DIRECT, no writeback to start or wait for */
    bool durable;      /* COREDUMP_DURABLE: fsync at the end */
    bool dio_ok;       /* O_DIRECT still worth trying on this fd */
    bool dio_on;       /* O_DIRECT currently set */
    uint64_t kicked;   /* file offset from which buffered writeback is not yet started */
    uint64_t unkicked; /* buffered bytes written since the last writeback kick */
    struct core_flusher *fl;
    struct coredump_stats *st;
    char *err;
    size_t errlen;
};
/* flags: COREDUMP_DURABLE starts the flusher on a disk. */
int coredump_mem_begin(struct core_mem_writer *w, int fd, unsigned flags, struct coredump_stats *st,
                       char *err, size_t errlen);
int coredump_mem_write(struct core_mem_writer *w, const struct core_mem_range *r, uint64_t off);
/* Writes the ELF header, program headers and notes at offset 0. */
int coredump_mem_write_head(struct core_mem_writer *w, const void *buf, size_t len);
/*
 * Restores the fd's flags; with COREDUMP_DURABLE also fsyncs (st->fsync_seconds) and stops
 * the flusher.  -1 with a message if any of it fails.  Must be called after a successful begin,
 * whatever happened in between (ok = false: only clean up).
 */
int coredump_mem_end(struct core_mem_writer *w, bool ok);

/* pwrite() until done, retrying EINTR and short writes; -1 with a message on failure. */
int coredump_pwrite_all(int fd, const void *data, size_t len, uint64_t off, char *err,
                        size_t errlen);

#endif
