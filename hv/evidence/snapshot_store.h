/* snapshot_store: crash snapshots (sparse ELF core + JSON metadata) kept atomically on disk. */
#ifndef VIGIL_HV_SNAPSHOT_STORE_H
#define VIGIL_HV_SNAPSHOT_STORE_H

#include "evidence/coredump.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ids are [A-Za-z0-9_-]{1,63}; the store makes "YYYYMMDD-HHMMSS-NNNNNN" (UTC, sequence). */
#define SNAPSHOT_ID_MAX     64
#define SNAPSHOT_SHA256_HEX 65
/* The metadata's "sha256" until the digest of the core is known (see snapshot_store_write). */
#define SNAPSHOT_SHA256_PENDING "pending"

/* What hv captured while the guest was frozen; the store only reads it. */
struct snapshot_request {
    const char *vm;      /* VM name (required) */
    const char *trigger; /* "trap:<action>", "request", ... (required) */
    int64_t time_ns;     /* CLOCK_REALTIME when the guest was frozen; 0: now */
    uint64_t sel_id;     /* the SEL entry announcing the snapshot; 0 if none */
    const struct core_mem_range *ranges;
    size_t nranges;
    const struct core_vcpu *vcpus; /* one vCPU's registers are summarised in the metadata */
    size_t nvcpus;
    const void *vmcoreinfo; /* optional VMCOREINFO note text, NULL/0 for none */
    size_t vmcoreinfo_len;
    json_t *exception;   /* optional object embedded as "exception" (borrowed, not stolen) */
    size_t summary_vcpu; /* whose registers "registers" summarises (vCPU 0 if out of range) */
    json_t *evidence;    /* optional object whose members join the top level (borrowed) */
};

struct snapshot_info {
    char id[SNAPSHOT_ID_MAX];
    char core_path[PATH_MAX];
    char meta_path[PATH_MAX];
    uint64_t core_bytes;              /* apparent size (st_size) */
    uint64_t core_allocated_bytes;    /* on disk (st_blocks * 512): holes excluded */
    char sha256[SNAPSHOT_SHA256_HEX]; /* SNAPSHOT_SHA256_PENDING: computed after the call */
    /* dump: coredump_write; fsync: the fsync that ends it; durable: the call until the core
     * and its metadata are durable (= total, the call's duration, but for the index update). */
    double dump_seconds, fsync_seconds, durable_seconds, total_seconds;
};

/* A digest was written: id's metadata now holds sha256 (vm: the snapshot's VM name). */
typedef void (*snapshot_digest_fn)(void *ctx, const char *id, const char *vm, const char *sha256,
                                   double hash_seconds);

struct snapshot_store;

/*
 * Open (creating <dir>/snapshots if needed) and recover: leftover *.tmp files, cores without
 * metadata, metadata without a core (or whose core has the wrong size) and unreadable
 * metadata are removed and logged, so only complete snapshots are listed.  The directory is
 * locked (flock on snapshots/.lock) against a second hv.  max_count / max_bytes: retention
 * limits applied after each write, 0 for none.  Snapshots whose digest is still pending (hv
 * stopped before it was written) are hashed again in the background.  Returns 0, or -errno
 * with a message in err.
 */
int snapshot_store_open(struct snapshot_store **out, const char *dir, unsigned max_count,
                        uint64_t max_bytes, char *err, size_t errlen);
/* No other call may be running.  A digest being computed is abandoned (done at next open). */
void snapshot_store_close(struct snapshot_store *s);

/*
 * Write a snapshot: <id>.core.tmp (coredump_write, durable), rename to <id>.core; then
 * <id>.json.tmp, fsync, rename to <id>.json, fsync the directory.  The metadata's presence
 * marks the snapshot complete; its "sha256" is SNAPSHOT_SHA256_PENDING at first.  Then
 * retention deletes the oldest others.  The guest's memory must not change during the call;
 * it may change as soon as the call returns.  The call takes about what the disk needs for the
 * guest's data (call it from a writer thread); the SHA-256 of the core (~0.5 s per GiB of
 * guest natively, zeros included) is computed afterwards by the store's digester thread, from
 * the file, and written into the metadata atomically (a new <id>.json renamed over the old);
 * the digester pauses while any write runs.  The store's lock is not held while the files are
 * written, so list/show/delete from other threads are not blocked.  Returns 0 (out filled
 * when non-NULL), or -errno with a message in err; on failure nothing is left behind.
 */
int snapshot_store_write(struct snapshot_store *s, const struct snapshot_request *req,
                         struct snapshot_info *out, char *err, size_t errlen);

/*
 * Waits up to timeout_ms (< 0: for ever) until id's digest is in its metadata.  Returns 0, or
 * -ETIMEDOUT, -ENOENT (unknown or deleted), -EINVAL (bad id), -EIO (hashing failed: the
 * metadata's "sha256_error" says why; the next open tries again), -ESHUTDOWN (closing).
 */
int snapshot_store_wait_digest(struct snapshot_store *s, const char *id, int timeout_ms);

/* fn (may be NULL) is called on the digester thread after each digest is written. */
void snapshot_store_on_digest(struct snapshot_store *s, snapshot_digest_fn fn, void *ctx);

/* A JSON array of metadata objects, oldest first.  New reference (a copy); NULL on ENOMEM. */
json_t *snapshot_store_list(struct snapshot_store *s);
/* One snapshot's metadata (a copy), or NULL if the id is invalid or unknown. */
json_t *snapshot_store_show(struct snapshot_store *s, const char *id);
/* The core file's path, for export.  Returns 0, -EINVAL (bad id), -ENOENT, -ENAMETOOLONG. */
int snapshot_store_core_path(struct snapshot_store *s, const char *id, char *buf, size_t len);
/* Metadata first (so a crash halfway leaves an orphan core, removed on open), then the core. */
/* Pins (or unpins) a snapshot: retention passes a pinned one by (the crash-report outbox holds
 * what it has yet to upload). Persisted as <id>.pin. At most SNAPSHOT_PIN_MAX are pinned
 * (-ENOSPC beyond); -ENOENT for no such snapshot. Unpinning applies retention again. */
#define SNAPSHOT_PIN_MAX 64
int snapshot_store_pin(struct snapshot_store *s, const char *id, bool pinned);
/* When on, every snapshot written from now on is pinned before it is listed (its <id>.pin made
 * before its metadata commits it), so retention cannot delete a crash before the uploader has
 * queued it; the uploader unpins it when done. Past SNAPSHOT_PIN_MAX pins, new ones are not
 * pinned (logged). hv's --snapshot-pin-new. */
void snapshot_store_pin_new(struct snapshot_store *s, bool on);
int snapshot_store_delete(struct snapshot_store *s, const char *id);
/*
 * Re-hash the core and compare with the metadata: 0 if equal, -EBADMSG if not, -EAGAIN while
 * the digest is pending, -EINVAL / -ENOENT / -errno otherwise.  As slow as the digest itself.
 */
int snapshot_store_verify(struct snapshot_store *s, const char *id, char *err, size_t errlen);

/* Totals of the complete snapshots held. */
void snapshot_store_usage(struct snapshot_store *s, unsigned *count, uint64_t *bytes);

/* True if id is 1..63 characters of [A-Za-z0-9_-] (no '.', '/': no path traversal). */
int snapshot_id_valid(const char *id);

/*
 * SHA-256 of a (sparse) file as it reads: holes are hashed as zeros without being read, data
 * extents are read (SEEK_DATA/SEEK_HOLE; everything is read where they are unsupported).
 * hex gets 64 lowercase digits + NUL.  Returns 0 or -errno.
 */
int snapshot_sha256_fd(int fd, char hex[SNAPSHOT_SHA256_HEX], uint64_t *data_read);

#endif
