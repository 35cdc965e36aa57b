/* events.h: the agent's event buffer: Redfish Event records with run-unique ids, a bounded
 * ring for replay, and the subscriber interface the SSE streams (and push subscriptions) use. */
#ifndef AGENT_EVENTS_H
#define AGENT_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTS_CAP 1024 /* records kept for replay (Last-Event-ID) */

/* One record as the ring keeps it. Valid until EVENTS_CAP newer records have been emitted:
 * a subscriber that keeps one past its callback copies what it needs. */
struct event {
    uint64_t seq;  /* 1, 2, ... within this run of the agent */
    char id[40];   /* "<boot>-<seq>": the EventId, and the SSE `id:` */
    char type[24]; /* EventType (StatusChange, Alert, ResourceAdded, ...) */
    char message_id[64];
    char origin[200]; /* OriginOfCondition's @odata.id, or "" */
    char *json;       /* the whole Event resource (one record in Events[]), compact JSON */
    size_t json_len;
    uint64_t bytes_upto; /* sum of json_len over every record up to this one: backlog sizes */
};

/* A boot id (random, 8 hex digits) that makes ids of a restarted agent differ. */
void events_init(void);
const char *events_boot(void);

/*
 * Emits one EventRecord. `record` (consumed) holds EventType, MessageId, Message, Severity and
 * whatever else applies (OriginOfCondition, AdditionalDataURI, LogEntry, Oem); EventId,
 * EventTimestamp (when absent) and MemberId are filled in here. Returns the record's seq, or 0
 * when it could not be kept (out of memory: it is dropped, and counted).
 */
uint64_t events_emit(json_t *record);

/* The record with this seq while the ring holds it, else NULL. */
const struct event *events_get(uint64_t seq);
uint64_t events_first(void); /* the oldest seq held (events_last() + 1 when none is) */
uint64_t events_last(void);  /* the newest seq emitted (0 before the first) */
/* The bytes of records after `seq` up to the newest: what a reader at seq has still to read. */
uint64_t events_backlog(uint64_t seq);

/* Parses an id from Last-Event-ID: 0 and *seq when it is this run's, 1 when it is well formed
 * but another run's (the agent restarted: everything may be lost), -1 when malformed. */
int events_parse_id(const char *id, uint64_t *seq);

/*
 * Subscribers: fn(ctx, e) runs on the agent's one thread right after each record is emitted,
 * in seq order. It must not block and must not emit events itself. A subscriber can also read
 * the ring later (events_get) instead of copying, as the SSE streams do. Returns a handle for
 * events_unsubscribe, or -1 when EVENTS_SUBSCRIBERS are in use.
 */
#define EVENTS_SUBSCRIBERS 64
typedef void (*events_fn)(void *ctx, const struct event *e);
int events_subscribe(events_fn fn, void *ctx);
void events_unsubscribe(int handle);

/* The RFC 3339 time of now (UTC, milliseconds), for records the agent makes itself. */
void events_now(char *buf, size_t n);

#endif
