/* sse.c: text/event-stream responses: each stream is a cursor into the event ring, pulled by
 * MHD's content reader; an idle stream is suspended and resumed when an event arrives. */
#include "sse.h"
#include "accounts.h"
#include "events.h"
#include "evfilter.h"
#include "sessions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct stream {
    struct MHD_Connection *mc;
    int suspended, closing, dropped;
    int exceeded;       /* EventBufferExceeded is owed before the replay */
    uint64_t cursor;    /* the last seq sent or filtered out */
    uint64_t start_seq; /* the newest seq when it opened: older ones are replay, not backlog */
    struct evfilter filter;
    char session[40]; /* the session it authenticated with, or "" (Basic) */
    char user[64];
    int role;
    int keepalive_due;
    int64_t last_out_ms;
    char *frame; /* the frame being sent */
    size_t frame_len, frame_off;
};

static struct stream *streams[SSE_MAX];
static int nstreams, subscribed;

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int sse_count(void)
{
    return nstreams;
}

static void wake(struct stream *st)
{
    if (st->suspended) {
        st->suspended = 0;
        MHD_resume_connection(st->mc);
    }
}

/* A reader too far behind (why says how) or gone: its connection is cut, which costs nobody
 * else anything. */
static void drop(struct stream *st, const char *why)
{
    if (st->dropped)
        return;
    if (why)
        fprintf(stderr, "mgmt-agent: dropping an event stream of %s: %s\n", st->user, why);
    st->dropped = 1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        shutdown(ci->connect_fd, SHUT_RDWR); /* MHD sees the socket fail and closes it */
    wake(st);
}

static void on_event(void *ctx, const struct event *e)
{
    (void)ctx, (void)e;
    for (int i = 0; i < nstreams; i++) {
        struct stream *st = streams[i];
        if (st->dropped)
            continue;
        uint64_t from = st->cursor > st->start_seq ? st->cursor : st->start_seq;
        if (st->cursor + 1 < events_first())
            drop(st, "the events it had not read left the buffer");
        else if (events_backlog(from) > SSE_QUEUE_MAX)
            drop(st, "more than "
                     "256 KiB of events queued");
        else
            wake(st);
    }
}

static int set_frame(struct stream *st, const char *id, const char *data, size_t len)
{
    size_t cap = len + strlen(id) + 16;
    char *f = malloc(cap);
    if (!f)
        return 0;
    int n = snprintf(f, cap, "id: %s\ndata: ", id);
    memcpy(f + n, data, len);
    memcpy(f + n + len, "\n\n", 2);
    free(st->frame);
    st->frame = f;
    st->frame_len = (size_t)n + len + 2;
    st->frame_off = 0;
    return 1;
}

/* EventBufferExceeded, with the id just before the oldest event held: a reconnect with it
 * replays everything the agent still has. */
static int exceeded_frame(struct stream *st)
{
    char id[40], now[40];
    snprintf(id, sizeof id, "%s-%" PRIu64, events_boot(), events_first() - 1);
    events_now(now, sizeof now);
    const char *msg = "The events after the requested Last-Event-ID are no longer buffered; the "
                      "stream goes on from the oldest event held.";
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[]}]}",
                  "@odata.type", "#Event.v1_10_0.Event", "Id", id, "Name", "Vigil event", "Events",
                  "EventId", id, "MemberId", "0", "EventType", "Other", "EventTimestamp", now,
                  "MessageId", "Base.1.16.0.EventBufferExceeded", "Message", msg, "Severity",
                  "Warning", "MessageSeverity", "Warning", "MessageArgs");
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    int ok = text && set_frame(st, id, text, strlen(text));
    free(text);
    return ok;
}

/* Prepares the next frame; 0 when there is nothing to send now. */
static int next_frame(struct stream *st)
{
    if (st->exceeded) {
        st->exceeded = 0;
        if (exceeded_frame(st))
            return 1;
    }
    while (st->cursor < events_last()) {
        const struct event *e = events_get(st->cursor + 1);
        if (!e) {
            drop(st, "the events it had not read left the buffer");
            return 0;
        }
        st->cursor++;
        if (evfilter_match(&st->filter, e))
            return set_frame(st, e->id, e->json, e->json_len);
    }
    if (st->keepalive_due) {
        st->keepalive_due = 0;
        static const char ka[] = ": keep-alive\n\n";
        free(st->frame);
        st->frame = strdup(ka);
        st->frame_len = st->frame ? sizeof ka - 1 : 0;
        st->frame_off = 0;
        return st->frame != NULL;
    }
    return 0;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    if (st->dropped)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t out = 0;
    while (out < max) {
        if (st->frame_off < st->frame_len) {
            size_t n = st->frame_len - st->frame_off;
            n = n < max - out ? n : max - out;
            memcpy(buf + out, st->frame + st->frame_off, n);
            st->frame_off += n, out += n;
        } else if (st->closing || !next_frame(st)) {
            break;
        }
    }
    if (out) {
        st->last_out_ms = mono_ms();
        return (ssize_t)out;
    }
    if (st->closing || st->dropped)
        return st->dropped ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to say: returning 0 unsuspended would make MHD ask again at once (busy loop). */
    st->suspended = 1;
    MHD_suspend_connection(st->mc);
    return 0;
}

static void stream_free(void *cls)
{
    struct stream *st = cls;
    for (int i = 0; i < nstreams; i++)
        if (streams[i] == st) {
            streams[i] = streams[--nstreams];
            break;
        }
    free(st->frame);
    free(st);
}

void h_sse(struct req *q, struct resp *r)
{
    char err[200];
    struct evfilter filter;
    const char *fs = req_arg(q, "$filter");
    if (fs && evfilter_parse(&filter, fs, err, sizeof err))
        return resp_error(r, 400, "QueryParameterValueFormatError", "%s", err);
    if (!fs)
        memset(&filter, 0, sizeof filter);
    const char *last = req_header(q, "Last-Event-ID");
    if (!last)
        last = req_arg(q, "Last-Event-ID"); /* for clients that cannot set headers */
    uint64_t seq = 0;
    int mine = last ? events_parse_id(last, &seq) : 2;
    if (mine < 0)
        return resp_error(r, 400, "QueryParameterValueFormatError",
                          "Last-Event-ID %.64s is not an event id of this service (<boot>-<n>)",
                          last);
    if (nstreams == SSE_MAX) {
        resp_header(r, "Retry-After", "5");
        return resp_error(r, 503, "ServiceTemporarilyUnavailable",
                          "%d event streams are open already", SSE_MAX);
    }
    if (!subscribed && events_subscribe(on_event, NULL) >= 0)
        subscribed = 1;
    struct stream *st = calloc(1, sizeof *st);
    if (!st)
        return resp_error(r, 503, "ServiceTemporarilyUnavailable", "out of memory");
    st->mc = q->mc;
    st->filter = filter;
    st->start_seq = events_last();
    st->cursor = events_last(); /* no Last-Event-ID: new events only */
    if (mine == 0 && seq + 1 >= events_first())
        st->cursor = seq < events_last() ? seq : events_last();
    else if (mine <= 1) /* aged out, or another run's id */
        st->exceeded = 1, st->cursor = events_first() - 1;
    snprintf(st->session, sizeof st->session, "%s", q->session);
    snprintf(st->user, sizeof st->user, "%s", q->user);
    st->role = q->role;
    st->last_out_ms = mono_ms();
    r->raw = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, st, stream_free);
    if (!r->raw) {
        free(st);
        return resp_error(r, 503, "ServiceTemporarilyUnavailable", "out of memory");
    }
    streams[nstreams++] = st;
    r->status = 200;
    MHD_add_response_header(r->raw, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r->raw, "X-Accel-Buffering", "no");
}

/* Whether whoever opened the stream may still read it: the session lives, the account too. */
static int still_allowed(const struct stream *st)
{
    if (st->session[0])
        return session_find(st->session) != NULL;
    const struct account *a = account_find(st->user);
    return a && a->enabled && a->role == st->role;
}

/* A suspended connection is not watched by MHD: whether its client left (conn.c shuts our
 * side of the socketpair down for writing when it does) is asked here. */
static int client_left(const struct stream *st)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(st->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    char c;
    return ci && recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int64_t sse_tick(int64_t now_ms)
{
    int64_t next = SSE_KEEPALIVE_S * 1000;
    for (int i = 0; i < nstreams; i++) {
        struct stream *st = streams[i];
        if (st->dropped || st->closing)
            continue;
        if (st->suspended && client_left(st)) {
            drop(st, NULL);
            continue;
        }
        if (!still_allowed(st)) {
            st->closing = 1; /* logged out or expired: the stream ends */
            wake(st);
            continue;
        }
        int64_t due = st->last_out_ms + SSE_KEEPALIVE_S * 1000;
        if (now_ms >= due) {
            st->keepalive_due = 1;
            st->last_out_ms = now_ms;
            wake(st);
        } else if (due - now_ms < next) {
            next = due - now_ms;
        }
    }
    return nstreams ? (next < 1000 ? next : 1000) : next; /* sessions are checked each second */
}

void sse_close_all(void)
{
    for (int i = 0; i < nstreams; i++) {
        streams[i]->closing = 1;
        wake(streams[i]);
    }
}
