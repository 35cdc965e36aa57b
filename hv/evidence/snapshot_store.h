/* snapshot_store: crash snapshots (sparse ELF core + JSON metadata) kept atomically on disk. */
#ifndef VIGIL_HV_SNAPSHOT_STORE_H
#define VIGIL_HV_SNAPSHOT_STORE_H

#include "evidence/coredump.h"

#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Ids are [A-Za-z0-9_-]{1,63}; the store makes "YYYYMMDD-HHMMSS-NNNNNN" (UTC, sequence). */
#define SNAPSHOT_ID_MAX     64
#define SNAPSHOT_SHA256_HEX 65

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
    uint64_t core_bytes;           /* apparent size (st_size) */
    uint64_t core_allocated_bytes; /* on disk (st_blocks * 512): holes excluded */
    char sha256[SNAPSHOT_SHA256_HEX];
    double dump_seconds, fsync_seconds, hash_seconds, total_seconds;
};

struct snapshot_store;

/*
 * Open (creating <dir>/snapshots if needed) and recover: leftover *.tmp files, cores without
 * metadata, metadata without a core (or whose core has the wrong size) and unreadable
 * metadata are removed and logged, so only complete snapshots are listed.  The directory is
 * locked (flock on snapshots/.lock) against a second hv.  max_count / max_bytes: retention
 * limits applied after each write, 0 for none.  Returns 0, or -errno with a message in err.
 */
int snapshot_store_open(struct snapshot_store **out, const char *dir, unsigned max_count,
                        uint64_t max_bytes, char *err, size_t errlen);
/* No other call may be running. */
void snapshot_store_close(struct snapshot_store *s);

/*
 * Write a snapshot: <id>.core.tmp (coredump_write), fsync, SHA-256 read back, rename to
 * <id>.core; then <id>.json.tmp, fsync, rename to <id>.json, fsync the directory.  The
 * metadata's presence marks the snapshot complete.  Then retention deletes the oldest others.
 * The guest's memory must not change during the call.  Slow (the dump, then ~0.55 s per GiB of
 * guest for SHA-256, zeros included): call it from a writer thread (the hash runs on a helper
 * thread it starts, which inherits its priority).  The store's lock is not held while the
 * files are written, so list/show/delete from other threads are not blocked.  Returns 0 (out
 * filled when non-NULL), or -errno with a message in err; on failure nothing is left behind.
 */
int snapshot_store_write(struct snapshot_store *s, const struct snapshot_request *req,
                         struct snapshot_info *out, char *err, size_t errlen);

/* A JSON array of metadata objects, oldest first.  New reference (a copy); NULL on ENOMEM. */
json_t *snapshot_store_list(struct snapshot_store *s);
/* One snapshot's metadata (a copy), or NULL if the id is invalid or unknown. */
json_t *snapshot_store_show(struct snapshot_store *s, const char *id);
/* The core file's path, for export.  Returns 0, -EINVAL (bad id), -ENOENT, -ENAMETOOLONG. */
int snapshot_store_core_path(struct snapshot_store *s, const char *id, char *buf, size_t len);
/* Metadata first (so a crash halfway leaves an orphan core, removed on open), then the core. */
int snapshot_store_delete(struct snapshot_store *s, const char *id);
/*
 * Re-hash the core and compare with the metadata: 0 if equal, -EBADMSG if not, -EINVAL /
 * -ENOENT / -errno otherwise.  As slow as the hash in write; for `hvctl snapshot show --verify`.
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
