/* svcchan.h: the service channel's client for programs in the service VM: control-protocol
 * requests to hv and its event stream, over the SVC_CALL hypercall (docs/service-channel.md). */
#ifndef SVCOS_SVCCHAN_H
#define SVCOS_SVCCHAN_H

#include <stddef.h>
#include <stdint.h>

/* An answer's buffer needs its payload's size plus this much (the header and the largest JSON
 * the control protocol allows: include/vigil/ctlproto.h). */
#define SVCCHAN_ANSWER_OVERHEAD (16u + 65536u)
#define SVCCHAN_PROTOCOL        1 /* the control protocol's version, as `hello` reports it */

/* An answer, pointing into the caller's buffer. */
struct svcchan_reply {
    const char *json; /* the response's JSON object (not NUL-terminated) */
    size_t json_len;
    const uint8_t *data; /* its binary payload */
    size_t data_len;
    size_t needed; /* after -E2BIG: the buffer size the answer needs */
};

/* Whether hv offers this VM the channel (only the service VM has it). */
int svcchan_available(void);

/*
 * Sends one request, the JSON object `json` (json_len bytes, "op" and its fields) and an
 * optional binary payload, and waits (in hv's WAIT) for the answer, which hv writes into buf
 * (cap bytes).  Returns 0 with *r filled, whatever the answer's "ok"; or -errno: -ENOSYS (no
 * channel here), -E2BIG (the request is over VIGIL_SVC_REQ_MAX, or the answer needs more than
 * cap: r->needed says how much, and svcchan_collect fetches it), -EFAULT (a buffer hv cannot
 * reach), -EBUSY (another call stayed in flight for a second), -EPROTO (a malformed answer).
 */
int svcchan_call(const char *json, size_t json_len, const void *data, size_t data_len, void *buf,
                 size_t cap, struct svcchan_reply *r);
/* After -E2BIG: fetches the same answer into a larger buffer. */
int svcchan_collect(void *buf, size_t cap, struct svcchan_reply *r);

/* The `events` operation: up to max events with a sequence number above `after`. */
int svcchan_events(uint64_t after, unsigned max, void *buf, size_t cap, struct svcchan_reply *r);
/* Waits until hv announces a new event (VIGIL_EV_CHANNEL) or hv's monotonic clock reaches
 * deadline_ns (UINT64_MAX: no deadline); returns 1 for an event, 0 at the deadline. */
int svcchan_wait_event(uint64_t deadline_ns);

#endif
