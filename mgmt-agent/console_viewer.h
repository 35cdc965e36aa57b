/* console_viewer.h: one WebSocket console viewer: its queues (bounded), frames in and out. */
#ifndef AGENT_CONSOLE_VIEWER_H
#define AGENT_CONSOLE_VIEWER_H

#include "websocket.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#define VIEWER_FRAME_MAX (16 * 1024)  /* a client frame's payload; larger ones close with 1009 */
#define VIEWER_MSG_MAX   (64 * 1024)  /* a fragmented message's whole payload */
#define VIEWER_PEND_MAX  (256 * 1024) /* console bytes waiting for a slow viewer: then it skips */
#define VIEWER_OUT_MAX   (64 * 1024)  /* framed bytes (replies, notices) a client leaves unread */
#define VIEWER_GAPS      16

struct bytes {
    uint8_t *p;
    size_t off, len, cap;
};

/* A place in the viewer's console stream where bytes are missing, told by a notice. */
struct gap {
    uint64_t at;    /* stream position (bytes ever queued) the gap precedes */
    uint64_t bytes; /* how many are missing */
    int ring;       /* hv's ring overwrote them (else: this viewer was too slow) */
};

struct viewer {
    unsigned id;
    int fd; /* -1 until the upgrade; MHD's end of the connection's socketpair after it */
    struct MHD_UpgradeResponseHandle *urh;
    char vm[65];
    char user[64], session[40];
    int can_write, mode, writer;
    int64_t deadline;     /* pending: the upgrade's; closing: when we stop waiting for the peer */
    int close_sent, dead; /* dead: tear down now (the peer left, or an I/O error) */
    int in_frag;          /* inside a fragmented message */
    size_t msg_len;
    int told_ignored;
    size_t in_len;
    uint8_t in[WS_HDR_MAX + VIEWER_FRAME_MAX];
    struct bytes out;  /* framed, on its way into fd */
    struct bytes pend; /* console bytes not framed yet */
    uint64_t pend_end; /* stream position of pend's end */
    struct gap gaps[VIEWER_GAPS];
    int ngaps;
};

/* Called for each complete input message part (text, binary, continuation) of v. */
typedef void (*viewer_input_fn)(struct viewer *v, const uint8_t *data, size_t len);

/* Queues console bytes; past VIEWER_PEND_MAX the oldest are dropped and a gap recorded. */
void viewer_push(struct viewer *v, const uint8_t *data, size_t len);
/* Records that hv's ring lost `bytes` before what is pushed next. */
void viewer_gap(struct viewer *v, uint64_t bytes, int ring);
/* Queues a text frame with the notice (consumed). */
void viewer_notice(struct viewer *v, json_t *notice);
/* Queues a close frame; the connection ends once the peer answers or after a grace period. */
void viewer_close(struct viewer *v, int code, const char *reason, int64_t now);
/* Reads and handles what the client sent (pings, close, input through fn). */
void viewer_read(struct viewer *v, viewer_input_fn fn, int64_t now);
/* Writes what is queued until the socket is full. */
void viewer_flush(struct viewer *v);
/* True when v waits to write. */
int viewer_wants_out(const struct viewer *v);
void viewer_free(struct viewer *v);

#endif
