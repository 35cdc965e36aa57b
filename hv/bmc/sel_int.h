/* Internal: the SEL handle shared by sel.c (runtime) and sel_open.c (open, recovery, close). */
#ifndef VIGIL_SEL_INT_H
#define VIGIL_SEL_INT_H

#include "bmc/sel_disk.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Lock order: sync_mu before mu.  mu guards the ring, the ids and fd; it is held across the
 * pwrite (a page-cache copy) but never across fdatasync, so that appenders queue behind one
 * sync and are all covered by it (group commit).  sync_mu serialises fdatasync against file
 * replacement (clear), which swaps fd.
 */
struct sel {
    pthread_mutex_t mu;
    pthread_mutex_t sync_mu;
    pthread_cond_t cond; /* visible_id advanced */
    char *path;
    int fd;
    int efd;
    struct sel_ring ring;
    uint64_t next_id;
    uint64_t synced_id;  /* every id <= this is on disk (guarded by sync_mu) */
    uint64_t visible_id; /* readers see ids <= this; in durable mode == synced_id */
    bool durable;
    uint64_t io_errors;
};

#endif
