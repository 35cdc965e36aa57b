/* console.c: the serial console of each VM over WebSocket: viewers, the one writer, hv's feed. */
#include "console.h"
#include "conn.h"
#include "console_viewer.h"
#include "hvlink.h"
#include "sessions.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_VIEWERS     64
#define MAX_FEEDS       16
#define READ_MAX        (64 * 1024) /* hv's ring holds 64 KiB per VM */
#define POLL_FAST_MS    2           /* while output floods: a read every 2 ms (32 MB/s) */
#define POLL_BUSY_MS    10          /* while output flows */
#define POLL_IDLE_MS    50
#define POLL_INPUT_MS   5 /* soon after input, for the echo */
#define PENDING_MS      10000
#define SESSION_POLL_MS 200
#define SOCK_BUF        (64 * 1024)

/* hv's console of one VM as the viewers see it: where the next read starts, when it is due. */
struct feed {
    char vm[65];
    uint64_t next;
    int64_t due;
    int live;
};

static struct viewer *viewers[MAX_VIEWERS];
static int nviewers;
static struct feed feeds[MAX_FEEDS];
static unsigned next_id = 1;
static int64_t session_due;
static const struct loop_hook console_hook;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int count_vm(const char *vm)
{
    int n = 0;
    for (int i = 0; i < nviewers; i++)
        n += !strcmp(viewers[i]->vm, vm);
    return n;
}

static struct feed *feed_of(const char *vm)
{
    for (int i = 0; i < MAX_FEEDS; i++)
        if (feeds[i].live && !strcmp(feeds[i].vm, vm))
            return &feeds[i];
    return NULL;
}

static void tell_writer(struct viewer *v, int writer, const char *by)
{
    v->writer = writer;
    viewer_notice(v, json_pack("{s:s, s:b, s:s}", "event", "writer", "writer", writer, "by", by));
}

/* The oldest viewer of vm that may write and did not ask to only view becomes the writer. */
static void promote(const char *vm)
{
    for (int i = 0; i < nviewers; i++)
        if (!strcmp(viewers[i]->vm, vm) && viewers[i]->writer)
            return;
    for (int i = 0; i < nviewers; i++) {
        struct viewer *v = viewers[i];
        if (!strcmp(v->vm, vm) && v->fd >= 0 && v->can_write && v->mode != CONSOLE_VIEW &&
            !v->close_sent && !v->dead)
            return tell_writer(v, 1, "the previous writer left");
    }
}

static void drop(int i)
{
    struct viewer *v = viewers[i];
    viewers[i] = viewers[--nviewers];
    char vm[65];
    snprintf(vm, sizeof vm, "%s", v->vm);
    if (v->urh) /* MHD closes its end; conn.c then ends the TLS connection */
        MHD_upgrade_action(v->urh, MHD_UPGRADE_ACTION_CLOSE);
    int was_writer = v->writer;
    viewer_free(v);
    struct feed *f = feed_of(vm);
    if (f && !count_vm(vm))
        f->live = 0;
    else if (was_writer)
        promote(vm);
}

static void input(struct viewer *v, const uint8_t *data, size_t len)
{
    if (!v->writer) {
        if (!v->told_ignored++)
            viewer_notice(v, json_pack("{s:s, s:s}", "event", "input-ignored", "reason",
                                       v->can_write ? "not-writer" : "read-only"));
        return;
    }
    struct session *s = v->session[0] ? session_find(v->session) : NULL;
    if (s) /* typing is use: it keeps the session from expiring, watching alone does not */
        s->last_used = time(NULL);
    struct hv_reply rep;
    json_t *req = json_pack("{s:s, s:s}", "op", "console.write", "vm", v->vm);
    hv_call(req, data, len, &rep);
    json_decref(req);
    json_int_t dropped = json_integer_value(json_object_get(rep.json, "dropped"));
    if (!hv_ok(rep.json))
        viewer_notice(v, json_pack("{s:s, s:I, s:s}", "event", "input-dropped", "bytes",
                                   (json_int_t)len, "reason", hv_code(rep.json)));
    else if (dropped > 0) /* hv's input queue (4 KiB) was full */
        viewer_notice(v, json_pack("{s:s, s:I, s:s}", "event", "input-dropped", "bytes", dropped,
                                   "reason", "input queue full"));
    hv_reply_free(&rep);
    struct feed *f = feed_of(v->vm);
    if (f && f->due > now_ms() + POLL_INPUT_MS)
        f->due = now_ms() + POLL_INPUT_MS;
}

/* One console.read; 0 with the reply, or -1 (hv refused: the VM is gone, or no link). */
static int read_console(const char *vm, uint64_t offset, struct hv_reply *rep)
{
    json_t *req = json_pack("{s:s, s:s, s:I, s:i}", "op", "console.read", "vm", vm, "offset",
                            (json_int_t)offset, "max", READ_MAX);
    hv_call(req, NULL, 0, rep);
    json_decref(req);
    if (hv_ok(rep->json))
        return 0;
    hv_reply_free(rep);
    return -1;
}

static uint64_t field(json_t *o, const char *k)
{
    return (uint64_t)json_integer_value(json_object_get(o, k));
}

/* Reads what vm printed since the feed's offset and queues it for each of its viewers. */
static void poll_feed(struct feed *f, int64_t now)
{
    size_t got = 0;
    for (int round = 0; round < 16; round++) { /* at most 1 MiB per turn of the loop */
        struct hv_reply rep;
        if (read_console(f->vm, f->next, &rep)) {
            for (int i = 0; i < nviewers; i++)
                if (!strcmp(viewers[i]->vm, f->vm))
                    viewer_close(viewers[i], WS_GOING_AWAY, "hv refused console.read", now);
            break;
        }
        /* hv's ring (64 KiB) moved past our offset: those bytes are gone for every viewer. */
        uint64_t start = field(rep.json, "start"), lost = start > f->next ? start - f->next : 0;
        /* What we got, not `next`: a transport may carry less than hv read (then the rest
         * comes with the next read) and a viewer must never miss bytes silently. */
        f->next = start + rep.data_len;
        for (int i = 0; i < nviewers; i++) {
            struct viewer *v = viewers[i];
            if (strcmp(v->vm, f->vm) || v->fd < 0)
                continue;
            if (lost)
                viewer_gap(v, lost, 1);
            viewer_push(v, rep.data, rep.data_len);
        }
        size_t n = rep.data_len;
        hv_reply_free(&rep);
        got = n > got ? n : got;
        if (n < READ_MAX)
            break;
    }
    /* Sooner while output streams, so that the ring does not wrap between two reads. */
    f->due = now + (got >= READ_MAX / 4 ? POLL_FAST_MS : got ? POLL_BUSY_MS : POLL_IDLE_MS);
}

unsigned console_reserve(const char *vm, const struct console_who *who)
{
    if (count_vm(vm) >= CONSOLE_MAX_VIEWERS || nviewers == MAX_VIEWERS)
        return 0;
    struct viewer *v = calloc(1, sizeof *v);
    if (!v)
        return 0;
    v->id = next_id++;
    v->fd = -1;
    snprintf(v->vm, sizeof v->vm, "%s", vm);
    snprintf(v->user, sizeof v->user, "%s", who->user);
    snprintf(v->session, sizeof v->session, "%s", who->session);
    v->can_write = who->can_write;
    v->mode = who->mode;
    v->deadline = now_ms() + PENDING_MS;
    viewers[nviewers++] = v;
    conn_add_hook(&console_hook);
    return v->id;
}

/* Scrollback: what hv's ring still holds, up to where the live feed of vm takes over. */
static void attach(struct viewer *v, int64_t now)
{
    struct feed *f = feed_of(v->vm);
    struct hv_reply rep;
    if (read_console(v->vm, 0, &rep))
        return viewer_close(v, WS_GOING_AWAY, "hv refused console.read", now);
    uint64_t start = field(rep.json, "start"), next = field(rep.json, "next"), upto = next;
    if (!f) {
        for (int i = 0; i < MAX_FEEDS && !f; i++)
            if (!feeds[i].live)
                f = &feeds[i];
        if (!f) {
            hv_reply_free(&rep);
            return viewer_close(v, WS_GOING_AWAY, "too many consoles watched at once", now);
        }
        *f = (struct feed){.next = next, .live = 1};
        snprintf(f->vm, sizeof f->vm, "%s", v->vm);
    } else if (f->next < upto) {
        upto = f->next;
    }
    f->due = now;
    struct viewer *cur = NULL;
    for (int i = 0; i < nviewers; i++)
        if (viewers[i] != v && viewers[i]->writer && !strcmp(viewers[i]->vm, v->vm))
            cur = viewers[i];
    if (v->can_write && v->mode != CONSOLE_VIEW) { /* the writer rule (docs/agent.md) */
        if (cur && v->mode == CONSOLE_TAKEOVER)
            tell_writer(cur, 0, v->user), cur = NULL;
        v->writer = !cur;
    }
    viewer_notice(v, json_pack("{s:s, s:s, s:b, s:b, s:I}", "event", "attached", "vm", v->vm,
                               "writer", v->writer, "can_write", v->can_write, "scrollback",
                               (json_int_t)(upto > start ? upto - start : 0)));
    if (upto > start)
        viewer_push(v, rep.data, (size_t)(upto - start));
    hv_reply_free(&rep);
}

void console_upgraded(void *cls, struct MHD_Connection *mc, void *req_cls, const char *extra,
                      size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)mc, (void)req_cls;
    struct viewer *v = NULL;
    for (int i = 0; i < nviewers && !v; i++)
        if (viewers[i]->id == (unsigned)(uintptr_t)cls && viewers[i]->fd < 0)
            v = viewers[i];
    if (!v) { /* its reservation timed out meanwhile */
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    v->fd = sock;
    v->urh = urh;
    fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
    /* Small kernel buffers on the way to this viewer (Linux would grow the TCP one to 4 MiB):
     * a viewer that stops reading then reaches its own queue's bound, and skips, within
     * about half a megabyte instead of several. A terminal needs no more. */
    int sz = SOCK_BUF, tcp = conn_tcp_of(sock);
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (tcp >= 0)
        setsockopt(tcp, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    int64_t now = now_ms();
    if (extra_len > sizeof v->in) {
        v->dead = 1;
        return;
    }
    memcpy(v->in, extra, extra_len);
    v->in_len = extra_len;
    attach(v, now);
}

/* Viewers whose session was logged out or expired are closed. */
static void check_sessions(int64_t now)
{
    if (now < session_due)
        return;
    session_due = now + SESSION_POLL_MS;
    for (int i = 0; i < nviewers; i++) {
        struct viewer *v = viewers[i];
        if (v->fd >= 0 && v->session[0] && !v->close_sent && !session_find(v->session))
            viewer_close(v, WS_POLICY, "the session ended (logout or expiry)", now);
    }
}

static void hook_fds(void (*add)(int fd, short events))
{
    for (int i = 0; i < nviewers; i++)
        if (viewers[i]->fd >= 0 && !viewers[i]->dead)
            add(viewers[i]->fd, (short)(POLLIN | (viewer_wants_out(viewers[i]) ? POLLOUT : 0)));
}

static int64_t hook_timeout(int64_t now)
{
    int64_t t = -1;
    for (int i = 0; i < MAX_FEEDS; i++)
        if (feeds[i].live && (t < 0 || feeds[i].due - now < t))
            t = feeds[i].due - now;
    for (int i = 0; i < nviewers; i++) {
        struct viewer *v = viewers[i];
        if (v->dead)
            return 0;
        if ((v->fd < 0 || v->close_sent) && (t < 0 || v->deadline - now < t))
            t = v->deadline - now;
        if (v->session[0] && (t < 0 || t > SESSION_POLL_MS))
            t = SESSION_POLL_MS;
    }
    return t < 0 ? -1 : t > 0 ? t : 0;
}

static void hook_run(int64_t now)
{
    for (int i = 0; i < nviewers; i++)
        if (viewers[i]->fd >= 0)
            viewer_read(viewers[i], input, now);
    check_sessions(now);
    for (int i = 0; i < MAX_FEEDS; i++)
        if (feeds[i].live && now >= feeds[i].due)
            poll_feed(&feeds[i], now);
    for (int i = 0; i < nviewers;) {
        struct viewer *v = viewers[i];
        if (v->fd >= 0)
            viewer_flush(v);
        int done = v->dead || (v->fd < 0 && now > v->deadline) ||
                   (v->close_sent && (now >= v->deadline) && !viewer_wants_out(v)) ||
                   (v->close_sent && now >= v->deadline + 2000);
        if (done)
            drop(i);
        else
            i++;
    }
}

static void hook_stop(void)
{
    int64_t now = now_ms();
    for (int i = 0; i < nviewers; i++)
        if (viewers[i]->fd >= 0) {
            viewer_close(viewers[i], WS_GOING_AWAY, "the agent is stopping", now);
            viewer_flush(viewers[i]);
        }
    while (nviewers)
        drop(0);
}

static const struct loop_hook console_hook = {hook_fds, hook_timeout, hook_run, hook_stop};
