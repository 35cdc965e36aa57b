/* Internal: the snapshot store handle shared by the snapshot_*.c files of the store. */
#ifndef VIGIL_HV_SNAPSHOT_STORE_INT_H
#define VIGIL_HV_SNAPSHOT_STORE_INT_H

#include "evidence/snapshot_store.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One complete snapshot: both files exist and the metadata parsed. */
struct snap_ent {
    char id[SNAPSHOT_ID_MAX];
    uint64_t seq;   /* from the id; orders the store (oldest first) */
    uint64_t bytes; /* allocated bytes of core + metadata, for retention */
    json_t *meta;
    double t0;   /* CLOCK_MONOTONIC start of its write, for timing.total_s; 0 if recovered */
    bool pinned; /* <id>.pin exists: retention passes it by (snapshot_pin.c) */
};

/*
 * mu guards the index, next_seq, the digest queue and every unlink/rename of a complete
 * snapshot.  It is NOT held while a core is written or hashed (seconds), only to pick an id
 * and to publish.  cond is broadcast whenever the queue, writers or stopping change.
 */
struct snapshot_store {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *root; /* <dir>/snapshots */
    int dirfd;
    int lockfd;
    unsigned max_count;
    uint64_t max_bytes;
    uint64_t next_seq;
    struct snap_ent *ents; /* sorted by (seq, id) */
    size_t nents, cap;
    /* The digester: one thread hashing complete snapshots whose sha256 is pending, oldest
     * first, paused while any write is making a core durable. */
    pthread_t digester;
    bool digester_started, stopping;
    unsigned writers;               /* writes between their start and their commit */
    char (*queue)[SNAPSHOT_ID_MAX]; /* ids waiting for a digest, oldest first */
    size_t qlen, qcap;
    char hashing[SNAPSHOT_ID_MAX]; /* the id being hashed now, "" if none */
    snapshot_digest_fn on_digest;
    void *on_digest_ctx;
    bool pin_new;          /* snapshot_store_pin_new (mu) */
    unsigned pins_pending; /* writes holding a pin file but not yet listed (mu) */
};

/* Files of a snapshot, relative to dirfd. */
#define SNAP_CORE_SUFFIX ".core"
#define SNAP_META_SUFFIX ".json"
#define SNAP_TMP_SUFFIX  ".tmp"
#define SNAP_PIN_SUFFIX  ".pin"

/* The sequence number in a store-made id ("YYYYMMDD-HHMMSS-N"), 0 for any other id. */
uint64_t snap_id_seq(const char *id);
/* Adds e (taking its meta reference) in order.  Caller holds mu.  Returns 0 or -ENOMEM. */
int snap_index_add(struct snapshot_store *s, const struct snap_ent *e);
/*
 * Deletes the oldest snapshots other than keep_id (may be NULL) until both limits hold.
 * Caller holds mu.
 */
void snap_retention(struct snapshot_store *s, const char *keep_id);
/* Allocated bytes (st_blocks * 512) of name in the store, 0 if it cannot be stat'ed. */
uint64_t snap_allocated(struct snapshot_store *s, const char *name);
/* Allocated bytes of a snapshot's core and metadata together. */
uint64_t snap_ent_bytes(struct snapshot_store *s, const char *id);

/* Marks the snapshots whose <id>.pin exists as pinned (at open). Caller holds mu. */
void snap_pins_load(struct snapshot_store *s);
/* A new snapshot's pin, made before its metadata when pin_new is on: true when made (then
 * pins_pending counts it until snap_pin_new_done). Takes mu itself. */
bool snap_pin_new_begin(struct snapshot_store *s, const char *id);
/* Caller holds mu: the write that began a pin ended (listed, or failed and the pin removed). */
void snap_pin_new_done(struct snapshot_store *s);

/* Removes <id><suffix> (logging failures other than ENOENT). */
void snap_unlink_suffix(struct snapshot_store *s, const char *id, const char *suffix);
/* Moves next_seq past id's sequence number. */
void snap_see_seq(struct snapshot_store *s, const char *id);
uint64_t snap_total_bytes(const struct snapshot_store *s);
/* Indexes the complete snapshots in the directory, removes the rest (logged).  At open. */
int snap_recover(struct snapshot_store *s, char *err, size_t errlen);

/* What writing a core gave, for its metadata (snapshot_write.c -> snapshot_meta.c). */
struct snap_written {
    const char *id;
    uint64_t seq;
    int64_t time_ns;
    uint64_t bytes, allocated;
    struct coredump_stats st;
    double dump_s, fsync_s;
};

/* The metadata of a snapshot just written (its digest pending); NULL if out of memory. */
json_t *snap_build_meta(const struct snapshot_request *req, const struct snap_written *w);
/* <id>.json.tmp, fsync, rename over <id>.json: the rename commits (or updates) a snapshot. */
int snap_write_meta(struct snapshot_store *s, const char *id, const json_t *m, char *err,
                    size_t errlen);
/* Whether a metadata object still waits for its digest. */
bool snap_meta_pending(const json_t *m);

/* Queues id for the digester (caller holds mu).  Returns 0 or -ENOMEM. */
int snap_digest_queue(struct snapshot_store *s, const char *id);
/* Starts the digester thread (at open, after recovery).  Returns 0 or -errno. */
int snap_digest_start(struct snapshot_store *s);
/* Stops it, abandoning a hash in progress (its snapshot stays pending until the next open). */
void snap_digest_stop(struct snapshot_store *s);

/*
 * Called by the hashing threads every few MiB; may block (a pause).  Nonzero cancels the hash,
 * which then returns -ECANCELED.  Must be thread-safe: reader and hasher both call it.
 */
typedef int (*snap_hash_hook)(void *arg);
/* snapshot_sha256_fd with a hook (NULL for none). */
int snap_sha256_fd_hook(int fd, char hex[SNAPSHOT_SHA256_HEX], uint64_t *data_read,
                        snap_hash_hook hook, void *arg);

#endif
