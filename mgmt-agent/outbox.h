/* outbox.h: the crash-report outbox: which snapshots are to be uploaded, kept in hv's NV store. */
#ifndef AGENT_OUTBOX_H
#define AGENT_OUTBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum ob_state {
    OB_QUEUED,   /* waiting for (another) attempt */
    OB_ACKED,    /* the collector answered 2xx with a receipt */
    OB_REJECTED, /* a permanent 4xx: not retried */
    OB_DROPPED,  /* pushed out by the bounds, or its snapshot was deleted */
};

struct ob_entry {
    char snap[64]; /* hv's snapshot id */
    char uuid[37]; /* the report's identity at the collector, fixed at enqueue */
    enum ob_state state;
    unsigned attempts;
    int64_t queued_ms, next_ms; /* wall clock (ms since the epoch): when, and when to try next */
    uint64_t core_bytes;
    char error[200]; /* the last attempt's failure, "" if none */
    char receipt[128];
};

/* At most this many finished entries are kept (for the Dump entries' Oem.Vigil.Upload). */
#define OUTBOX_HISTORY 32

struct outbox {
    struct ob_entry *e; /* oldest first */
    size_t n, cap;
    char hwm[64]; /* the newest snapshot id ever enqueued: older ones are never enqueued again */
};

/* Reads the outbox from the NV store (an empty one if there is none): 0, or -1 when hv could not
 * be asked or the record is damaged (err says which). */
int outbox_load(struct outbox *ob, char *err, size_t errlen);
/* Writes it back (one nv.put: atomic). 0 or -1. */
int outbox_save(const struct outbox *ob);
void outbox_free(struct outbox *ob);

struct ob_entry *outbox_find(struct outbox *ob, const char *snap);
/* Appends a queued entry with a new random UUID (and moves the high-water mark). */
struct ob_entry *outbox_add(struct outbox *ob, const char *snap, uint64_t core_bytes,
                            int64_t now_ms);
/* Forgets the oldest finished entries beyond OUTBOX_HISTORY. */
void outbox_trim(struct outbox *ob);
/* Queued entries and the core bytes they reference. */
size_t outbox_queued(const struct outbox *ob, uint64_t *bytes);

const char *ob_state_name(enum ob_state s);
/* The entry as the Dump entry's Oem.Vigil.Upload shows it. */
json_t *ob_entry_json(const struct ob_entry *e);

#endif
