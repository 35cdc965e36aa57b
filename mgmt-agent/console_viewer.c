/* console_viewer.c: one WebSocket console viewer: bounded queues, gaps, frames in and out. */
#include "console_viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CLOSE_GRACE_MS 2000

/* Appends to b; -1 (nothing appended) when b would exceed max. */
static int bytes_add(struct bytes *b, const void *data, size_t n, size_t max)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len - b->off + n > max)
        return -1;
    if (b->len + n > b->cap) {
        if (b->off) { /* slide the unsent part to the front before growing */
            memmove(b->p, b->p + b->off, b->len - b->off);
            b->len -= b->off, b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            uint8_t *p = realloc(b->p, cap);
            if (!p)
                return -1;
            b->p = p, b->cap = cap;
        }
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static size_t bytes_used(const struct bytes *b)
{
    return b->len - b->off;
}

static void add_gap(struct viewer *v, uint64_t at, uint64_t bytes, int ring)
{
    if (v->ngaps && v->gaps[v->ngaps - 1].at >= at) { /* same place (or table full): merge */
        v->gaps[v->ngaps - 1].bytes += bytes;
        v->gaps[v->ngaps - 1].ring &= ring;
        return;
    }
    if (v->ngaps == VIEWER_GAPS) {
        v->gaps[VIEWER_GAPS - 1].bytes += bytes;
        return;
    }
    v->gaps[v->ngaps++] = (struct gap){.at = at, .bytes = bytes, .ring = ring};
}

void viewer_gap(struct viewer *v, uint64_t bytes, int ring)
{
    add_gap(v, v->pend_end, bytes, ring);
}

void viewer_push(struct viewer *v, const uint8_t *data, size_t len)
{
    if (v->close_sent || v->dead)
        return;
    size_t used = bytes_used(&v->pend);
    if (used + len > VIEWER_PEND_MAX) {
        /* The viewer fell behind: drop the oldest bytes, never hold up hv's feed or others. */
        size_t drop = used + len - VIEWER_PEND_MAX, from_pend = drop < used ? drop : used;
        v->pend.off += from_pend;
        uint64_t head = v->pend_end - (used - from_pend);
        if (drop > used) { /* even the new bytes do not fit: keep their end */
            data += drop - used;
            len -= drop - used;
            v->pend_end += drop - used;
            head = v->pend_end;
        }
        /* Gaps inside the dropped part fold into the one at the new head. */
        uint64_t lost = drop;
        int k = 0;
        while (k < v->ngaps && v->gaps[k].at <= head)
            lost += v->gaps[k++].bytes;
        memmove(v->gaps, v->gaps + k, (size_t)(v->ngaps - k) * sizeof v->gaps[0]);
        v->ngaps -= k;
        if (v->ngaps == VIEWER_GAPS) /* full: the last two become one (a count, not a place) */
            v->gaps[VIEWER_GAPS - 2].bytes += v->gaps[--v->ngaps].bytes;
        memmove(v->gaps + 1, v->gaps, (size_t)v->ngaps * sizeof v->gaps[0]);
        v->gaps[0] = (struct gap){.at = head, .bytes = lost, .ring = 0};
        v->ngaps++;
    }
    if (len && bytes_add(&v->pend, data, len, VIEWER_PEND_MAX) == 0)
        v->pend_end += len;
}

static void frame_out(struct viewer *v, int op, const void *data, size_t len)
{
    uint8_t hdr[WS_HDR_MAX];
    size_t h = ws_header(hdr, op, len);
    if (bytes_add(&v->out, hdr, h, VIEWER_OUT_MAX + VIEWER_FRAME_MAX) ||
        bytes_add(&v->out, data, len, VIEWER_OUT_MAX + VIEWER_FRAME_MAX))
        v->dead = 1; /* a client that leaves even our replies unread: end it */
}

void viewer_notice(struct viewer *v, json_t *notice)
{
    char *s = json_dumps(notice, JSON_COMPACT);
    json_decref(notice);
    if (s && !v->close_sent)
        frame_out(v, WS_TEXT, s, strlen(s));
    free(s);
}

void viewer_close(struct viewer *v, int code, const char *reason, int64_t now)
{
    if (v->close_sent)
        return;
    uint8_t p[125] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t n = strlen(reason);
    n = n > 123 ? 123 : n;
    memcpy(p + 2, reason, n);
    frame_out(v, WS_CLOSE, p, n + 2);
    v->close_sent = 1;
    v->deadline = now + CLOSE_GRACE_MS;
}

/* Frames the next piece of pend: a notice at a gap, else up to the gap or a frame's worth. */
static void frame_pending(struct viewer *v)
{
    uint64_t head = v->pend_end - bytes_used(&v->pend);
    if (v->ngaps && v->gaps[0].at <= head) {
        json_t *n =
            json_pack("{s:s, s:I, s:s}", "event", "skipped", "bytes", (json_int_t)v->gaps[0].bytes,
                      "reason", v->gaps[0].ring ? "ring" : "slow-viewer");
        memmove(v->gaps, v->gaps + 1, (size_t)--v->ngaps * sizeof v->gaps[0]);
        viewer_notice(v, n);
        return;
    }
    size_t n = bytes_used(&v->pend);
    if (n > VIEWER_FRAME_MAX)
        n = VIEWER_FRAME_MAX;
    if (v->ngaps && v->gaps[0].at - head < n)
        n = (size_t)(v->gaps[0].at - head);
    frame_out(v, WS_BINARY, v->pend.p + v->pend.off, n);
    v->pend.off += n;
}

int viewer_wants_out(const struct viewer *v)
{
    return bytes_used(&v->out) || (!v->close_sent && (bytes_used(&v->pend) || v->ngaps));
}

void viewer_flush(struct viewer *v)
{
    while (!v->dead) {
        if (!bytes_used(&v->out) && !v->close_sent && (bytes_used(&v->pend) || v->ngaps))
            frame_pending(v);
        size_t n = bytes_used(&v->out);
        if (!n)
            return;
        ssize_t w = send(v->fd, v->out.p + v->out.off, n, MSG_NOSIGNAL);
        if (w > 0)
            v->out.off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            v->dead = 1;
        else
            return;
    }
}

static void handle(struct viewer *v, const struct ws_frame *f, viewer_input_fn fn, int64_t now)
{
    switch (f->op) {
    case WS_PING:
        frame_out(v, WS_PONG, f->payload, f->len);
        return;
    case WS_PONG:
        return;
    case WS_CLOSE: {
        int code = f->len >= 2 ? f->payload[0] << 8 | f->payload[1] : WS_NORMAL;
        if (f->len == 1 || (f->len >= 2 && (code < 1000 || code == 1005 || code == 1006)))
            viewer_close(v, WS_PROTOCOL_ERROR, "malformed close frame", now);
        else
            viewer_close(v, code, "", now);
        v->deadline = now; /* the peer closed: done once our close is written */
        return;
    }
    case WS_CONT:
        if (!v->in_frag)
            return viewer_close(v, WS_PROTOCOL_ERROR, "continuation frame outside a message", now);
        break;
    default: /* text, binary: console input either way (UTF-8 is not required) */
        if (v->in_frag)
            return viewer_close(v, WS_PROTOCOL_ERROR, "new message inside a fragmented one", now);
        v->msg_len = 0;
    }
    v->in_frag = !f->fin;
    v->msg_len += f->len;
    if (v->msg_len > VIEWER_MSG_MAX)
        return viewer_close(v, WS_TOO_BIG, "message larger than the agent accepts", now);
    if (!v->close_sent && f->len)
        fn(v, f->payload, f->len);
}

void viewer_read(struct viewer *v, viewer_input_fn fn, int64_t now)
{
    while (!v->dead) {
        ssize_t r = recv(v->fd, v->in + v->in_len, sizeof v->in - v->in_len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            v->dead = 1; /* the client is gone (conn.c passed on its end of stream) */
            return;
        }
        if (r < 0)
            return;
        v->in_len += (size_t)r;
        for (;;) {
            struct ws_frame f;
            const char *why = NULL;
            int rc = ws_parse(v->in, v->in_len, VIEWER_FRAME_MAX, &f, &why);
            if (rc == 0)
                break;
            if (rc > 1) { /* the stream cannot be followed any further */
                viewer_close(v, rc, why, now);
                v->in_len = 0;
                v->deadline = now;
                return;
            }
            handle(v, &f, fn, now);
            memmove(v->in, v->in + f.size, v->in_len - f.size);
            v->in_len -= f.size;
        }
    }
}

void viewer_free(struct viewer *v)
{
    free(v->out.p);
    free(v->pend.p);
    free(v);
}
