/* Internal: the snapshot store handle shared by snapshot_store.c and snapshot_write.c. */
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
};

/*
 * mu guards the index, next_seq and every unlink/rename of a complete snapshot.  It is NOT
 * held while a core is written or hashed (seconds), only to pick an id and to publish.
 */
struct snapshot_store {
    pthread_mutex_t mu;
    char *root; /* <dir>/snapshots */
    int dirfd;
    int lockfd;
    unsigned max_count;
    uint64_t max_bytes;
    uint64_t next_seq;
    struct snap_ent *ents; /* sorted by (seq, id) */
    size_t nents, cap;
};

/* Files of a snapshot, relative to dirfd. */
#define SNAP_CORE_SUFFIX ".core"
#define SNAP_META_SUFFIX ".json"
#define SNAP_TMP_SUFFIX  ".tmp"

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

/* Removes <id><suffix> (logging failures other than ENOENT). */
void snap_unlink_suffix(struct snapshot_store *s, const char *id, const char *suffix);
/* Moves next_seq past id's sequence number. */
void snap_see_seq(struct snapshot_store *s, const char *id);
uint64_t snap_total_bytes(const struct snapshot_store *s);
/* Indexes the complete snapshots in the directory, removes the rest (logged).  At open. */
int snap_recover(struct snapshot_store *s, char *err, size_t errlen);

#endif
