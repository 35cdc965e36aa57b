/* evstream.h: hv's event stream for the management side: a bounded ring of what hv recorded
 * (every SEL entry: switches, crashes, snapshots, sensor alarms), each with a sequence number,
 * read with the `events` operation and announced to the service VM by VIGIL_EV_CHANNEL. */
#ifndef HV_EVSTREAM_H
#define HV_EVSTREAM_H

#include "bmc/sel.h"

#include <jansson.h>
#include <stdint.h>

#define EVSTREAM_CAP      256u /* events kept; older ones are dropped (a reader sees "lost") */
#define EVSTREAM_READ_MAX 256u /* events one read returns */

struct evstream;

struct evstream *evstream_new(void);
void evstream_free(struct evstream *s);

/* Appends an event (any thread; the stream's lock is a leaf); returns its sequence number
 * (1, 2, ...: they restart with hv). */
uint64_t evstream_push(struct evstream *s, uint64_t sel_id, enum sel_severity sev,
                       enum sel_type type, const char *vm, const char *message);

/* {"events": [...], "first_seq", "last_seq", "lost"}: up to max (capped at EVSTREAM_READ_MAX)
 * events with seq > after, oldest first; lost is true when events after `after` were dropped
 * before this read.  Each event: seq, time (ISO 8601 UTC), kind ("switch", "crash",
 * "snapshot", "sensor" or "sel"), type (the SEL's), severity, vm, message, sel_id.  NULL on
 * ENOMEM. */
json_t *evstream_read(struct evstream *s, uint64_t after, unsigned max);

/* The event kind a SEL type belongs to. */
const char *evstream_kind(enum sel_type type);

#endif
