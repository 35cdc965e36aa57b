/* ctl_server.c: accepts control clients and moves their framed requests and responses,
 * non-blocking. */
#include "control/ctl_server.h"

#include "base/log.h"
#include "base/loop.h"
#include "control/ctl_handlers.h"
#include "supervisor/switch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define IN_MAX      (sizeof(struct vigil_ctl_header) + VIGIL_CTL_JSON_MAX + VIGIL_CTL_DATA_MAX)

struct ctl_client {
    struct loop_handler h;
    struct ctl_server *srv;
    int fd;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off;
    bool close_after_flush;
    uint32_t events; /* what epoll watches for now */
};

struct ctl_server {
    struct loop_handler h;
    struct hv *hv;
    int epfd, fd;
    char path[108];
    struct ctl_client *clients[MAX_CLIENTS];
};

static void client_free(struct ctl_client *c)
{
    struct ctl_server *s = c->srv;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (s->clients[i] == c)
            s->clients[i] = NULL;
    loop_del(s->epfd, c->fd);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static int queue_out(struct ctl_client *c, const uint8_t *buf, size_t len)
{
    uint8_t *grown = realloc(c->out, c->out_len + len);
    if (!grown)
        return -1;
    c->out = grown;
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return 0;
}

static void respond(struct ctl_client *c, json_t *json, const uint8_t *data, uint32_t data_len)
{
    uint8_t *frame;
    size_t n = ctl_encode(VIGIL_CTL_RESPONSE, json, data, data_len, &frame);
    if (!n || queue_out(c, frame, n) < 0)
        c->close_after_flush = true;
    free(frame);
}

/* Sends what the socket takes now; false when the client is gone. */
static bool send_out(struct ctl_client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0)
            return false;
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return true;
}

/* Returns false when the client is gone. */
static bool flush_out(struct ctl_client *c)
{
    if (!send_out(c) || (!c->out_len && c->close_after_flush))
        return false;
    uint32_t ev = EPOLLIN | (c->out_len ? EPOLLOUT : 0);
    if (ev != c->events) /* an epoll_ctl per request only when there is something to change */
        loop_mod(c->srv->epfd, c->fd, ev, &c->h);
    c->events = ev;
    return true;
}

static void process_input(struct ctl_client *c)
{
    size_t off = 0;
    while (!c->close_after_flush) {
        struct ctl_msg msg;
        size_t used = 0;
        char err[200];
        enum ctl_parse r = ctl_parse(c->in + off, c->in_len - off, &msg, &used, err, sizeof err);
        if (r == CTL_PARSE_NEED_MORE)
            break;
        if (r == CTL_PARSE_BAD_FRAME) {
            log_warn("control client: %s; closing the connection", err);
            json_t *e = ctl_error("EPROTO", "%s", err);
            respond(c, e, NULL, 0);
            json_decref(e);
            c->close_after_flush = true;
            break;
        }
        off += used;
        if (r == CTL_PARSE_BAD_JSON) {
            json_t *e = ctl_error("EINVAL", "%s", err);
            respond(c, e, NULL, 0);
            json_decref(e);
            continue;
        }
        struct ctl_reply reply;
        ctl_handle(c->srv->hv, &msg, &reply);
        respond(c, reply.json, reply.data, reply.data_len);
        json_decref(reply.json);
        free(reply.data);
        json_decref(msg.json);
        /* The answer goes out first, then what the request left for later (a switch's SEL
         * record and banner); a request after this one sees them done. */
        send_out(c);
        hv_switch_flush(c->srv->hv);
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void client_event(struct loop_handler *h, uint32_t events)
{
    struct ctl_client *c = (struct ctl_client *)h;
    if (events & EPOLLIN) {
        if (c->in_cap - c->in_len < 65536 && c->in_cap < IN_MAX) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 65536;
            uint8_t *grown = realloc(c->in, cap < IN_MAX ? cap : IN_MAX);
            if (!grown) {
                client_free(c);
                return;
            }
            c->in = grown;
            c->in_cap = cap < IN_MAX ? cap : IN_MAX;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            client_free(c);
            return;
        }
        if (n > 0) {
            c->in_len += (size_t)n;
            process_input(c);
        }
    }
    if ((events & (EPOLLHUP | EPOLLERR)) && !c->out_len) {
        client_free(c);
        return;
    }
    if (!flush_out(c))
        client_free(c);
}

static void accept_one(struct ctl_server *s, int fd)
{
    int slot = -1;
    for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
        if (!s->clients[i])
            slot = i;
    struct ctl_client *c = slot >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        log_warn("control socket: refusing a client (%d connected already)", MAX_CLIENTS);
        close(fd);
        return;
    }
    c->h.fn = client_event;
    c->srv = s;
    c->fd = fd;
    c->events = EPOLLIN;
    s->clients[slot] = c;
    loop_add(s->epfd, fd, EPOLLIN, &c->h);
}

static void server_event(struct loop_handler *h, uint32_t events)
{
    struct ctl_server *s = (struct ctl_server *)h;
    (void)events;
    int fd;
    while ((fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        accept_one(s, fd);
}

int ctl_server_open(struct ctl_server **out, struct hv *hv, const char *path, int epfd, char *err,
                    size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(err, errlen, "control socket path is longer than %zu bytes",
                 sizeof addr.sun_path - 1);
        return -1;
    }
    strcpy(addr.sun_path, path);
    struct ctl_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->h.fn = server_event;
    s->hv = hv;
    s->epfd = epfd;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A socket file left by a dead hv is removed; a live one is not stolen. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof addr) == 0) {
        close(probe);
        snprintf(err, errlen, "%s is in use by another running hv", path);
        close(s->fd);
        free(s);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(path);
    mode_t old = umask(0177);
    int rc = bind(s->fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (rc < 0 || listen(s->fd, 64) < 0 || loop_add(epfd, s->fd, EPOLLIN, &s->h) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        close(s->fd);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void ctl_server_close(struct ctl_server *s)
{
    if (!s)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (s->clients[i])
            client_free(s->clients[i]);
    loop_del(s->epfd, s->fd);
    close(s->fd);
    unlink(s->path);
    free(s);
}
