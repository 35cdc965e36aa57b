/* coredump: write a frozen guest as an ELF core laid out like QEMU's dump-guest-memory. */
#ifndef VIGIL_HV_COREDUMP_H
#define VIGIL_HV_COREDUMP_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* One vCPU's state as KVM_GET_REGS / KVM_GET_SREGS return it. */
struct core_vcpu {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    /* MSR_KERNEL_GS_BASE (0xc0000102), 0 if unknown: QEMU 7.2's CPU note ends with it. */
    uint64_t kernel_gs_base;
};

/*
 * One guest-physical RAM range and where the monitor maps it. host must be page-aligned and
 * map anonymous or shmem/memfd memory (MAP_PRIVATE|MAP_ANONYMOUS in Vigil): pages mincore()
 * reports non-resident are taken as zero, which only holds for such memory without swap.
 */
struct core_mem_range {
    uint64_t gpa;
    uint64_t len;
    const uint8_t *host;
};

struct coredump_stats {
    uint64_t file_bytes;         /* logical size of the core file */
    uint64_t data_bytes;         /* guest memory bytes actually written (non-zero pages) */
    uint64_t direct_bytes;       /* of those, written with O_DIRECT */
    uint64_t zero_pages_skipped; /* pages left as holes */
    uint64_t pages_total;        /* guest pages considered */
    uint64_t flushes_behind;     /* COREDUMP_DURABLE: fdatasyncs issued while writing */
    double write_seconds;        /* in the writes of guest memory (the rest: finding the runs) */
    double fsync_seconds;        /* COREDUMP_DURABLE: the final fsync (part of seconds) */
    double seconds;              /* wall time inside coredump_write */
};

/*
 * coredump_write_flags: the file is durable when the call returns.  On a disk, a helper thread
 * fdatasyncs behind the writes (every COREDUMP_FLUSH_STEP bytes written), so the device
 * writes back while guest memory is still being sent instead of all of it at the final fsync.
 */
#define COREDUMP_DURABLE 1u

/* Largest VMCOREINFO descriptor accepted; QEMU caps guest notes at 1 MiB too. */
#define COREDUMP_VMCOREINFO_MAX (1u << 20)

/*
 * Write an ELF64 ET_CORE (EM_X86_64) of the guest to fd, replacing its contents.
 *
 * fd: a regular file opened for writing, without O_APPEND. It is truncated first, then grown
 *     to its final size, so all-zero guest pages stay holes (sparse file).
 * r, nr: guest RAM ranges, ascending by gpa and non-overlapping; one PT_LOAD each.
 * v, nv: vCPU states; notes are written in this order, vCPU i gets pr_pid i + 1.
 * vmcoreinfo, vmcoreinfo_len: the guest's VMCOREINFO text (the note descriptor, e.g.
 *     "OSRELEASE=...\n"), written verbatim as a "VMCOREINFO" note; NULL/0 for none.
 * st: optional statistics; err, errlen: optional buffer for a message on failure.
 *
 * Guest memory is written first and the ELF headers last, so an interrupted dump never looks
 * like a valid core; on failure the file is also truncated to 0 (best effort).
 * It does NOT fsync: the caller decides on durability (fsync(fd) before announcing the core, or
 * coredump_write_flags with COREDUMP_DURABLE).
 * Returns 0 on success, -1 on failure with a message in err.
 */
int coredump_write(int fd, const struct core_mem_range *r, size_t nr, const struct core_vcpu *v,
                   size_t nv, const void *vmcoreinfo, size_t vmcoreinfo_len,
                   struct coredump_stats *st, char *err, size_t errlen);
/* The same with flags (COREDUMP_DURABLE or 0). */
int coredump_write_flags(int fd, const struct core_mem_range *r, size_t nr,
                         const struct core_vcpu *v, size_t nv, const void *vmcoreinfo,
                         size_t vmcoreinfo_len, unsigned flags, struct coredump_stats *st,
                         char *err, size_t errlen);

#endif
