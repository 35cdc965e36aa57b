/* Internal: the SEL ring file format (header + fixed 512-byte CRC'd records); used by sel.c. */
#ifndef VIGIL_SEL_DISK_H
#define VIGIL_SEL_DISK_H

#include "bmc/sel.h"

#include <stddef.h>
#include <stdint.h>

#define SEL_HDR_SIZE 512
#define SEL_REC_SIZE 512

/* A loaded ring: slot i holds the entry whose id % capacity == i, or id 0 when empty. */
struct sel_ring {
    uint32_t capacity;
    struct sel_entry *slots;
    uint64_t last_id;
    uint32_t count;
    uint32_t discarded; /* non-empty records that failed validation */
};

uint32_t sel_crc32(const void *buf, size_t len);

/*
 * Atomically replace path with a new ring file (temp file, fsync, rename, fsync dir) that
 * holds entries e[0..n) (ascending ids, n <= capacity).  On success *fd_out is the new
 * file, open read-write and flock'ed.  Returns 0 or -errno.
 */
int sel_disk_create(const char *path, uint32_t capacity, const struct sel_entry *e, size_t n,
                    int *fd_out, char *err, size_t errlen);

/*
 * Read and validate a ring file.  Returns 0 and fills ring (slots malloc'ed), -EBADMSG when
 * the header is damaged, or another -errno.  Torn/corrupt records and records older than the
 * window (last_id - capacity, ...] are dropped.
 */
int sel_disk_load(int fd, struct sel_ring *ring, char *err, size_t errlen);

/* Write one record into its slot (page cache only; the caller decides when to sync). */
int sel_disk_write(int fd, uint32_t capacity, const struct sel_entry *e);

#endif
