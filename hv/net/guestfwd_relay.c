/* guestfwd_relay.c: libslirp's guestfwd callback form gives one byte stream for every guest
 * connection with no open or close, which would splice two TLS sessions together; its Unix form
 * (slirp_add_unix) opens one socket per connection, which this carries to TCP, both ways, with
 * a bounded buffer per direction and half-closes passed on. */
#include "net/guestfwd_relay.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RELAY_CONNS 16
#define RELAY_BUF   16384

/* One direction of a connection. */
struct pipe {
    int from, to;
    size_t len, off; /* buf[off..len) waits to be written */
    bool eof, shut;  /* from ended; to was told so */
    char buf[RELAY_BUF];
};

struct conn {
    bool used, connecting;
    int guest, host;  /* slirp's Unix end, the TCP connection to the target */
    struct pipe p[2]; /* guest -> host, host -> guest */
    int slot[2];      /* where relay_fill put guest and host in fds, or -1 */
};

struct relay {
    int listen_fd;
    int listen_slot;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char target[NIC_HOST_MAX + 8];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct conn conns[RELAY_CONNS];
};

int relay_open(struct relay **out, const struct nic_guestfwd *g, const char *path, char *err,
               size_t errlen)
{
    struct relay *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->listen_fd = -1;
    snprintf(r->target, sizeof r->target, "%s:%u", g->host, g->host_port);
    char port[8];
    snprintf(port, sizeof port, "%u", g->host_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(g->host, port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "guestfwd to %s: %s", r->target, gai_strerror(rc));
        free(r);
        return -1;
    }
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        snprintf(err, errlen, "guestfwd socket path %s is too long", path);
        free(r);
        return -1;
    }
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
        listen(r->listen_fd, RELAY_CONNS) < 0) {
        snprintf(err, errlen, "guestfwd socket %s: %s", path, strerror(errno));
        if (r->listen_fd >= 0)
            close(r->listen_fd);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

static void conn_close(struct conn *c)
{
    close(c->guest);
    close(c->host);
    c->used = false;
}

static void accept_one(struct relay *r)
{
    int g = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (g < 0)
        return;
    struct conn *c = NULL;
    for (unsigned i = 0; i < RELAY_CONNS && !c; i++)
        if (!r->conns[i].used)
            c = &r->conns[i];
    int h = c ? socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
    if (h < 0 ||
        (connect(h, (struct sockaddr *)&r->addr, r->addrlen) < 0 && errno != EINPROGRESS)) {
        log_warn("guestfwd to %s: %s", r->target, c ? strerror(errno) : "too many connections");
        if (h >= 0)
            close(h);
        close(g); /* the guest sees its connection closed */
        return;
    }
    memset(c, 0, sizeof *c);
    c->used = c->connecting = true;
    c->guest = g;
    c->host = h;
    c->p[0].from = c->p[1].to = g;
    c->p[0].to = c->p[1].from = h;
}

/* Moves what it can without blocking; false when the connection failed. */
static bool pipe_step(struct pipe *p)
{
    if (p->off == p->len && !p->eof) {
        ssize_t n = read(p->from, p->buf, sizeof p->buf);
        if (n > 0)
            p->len = (size_t)n, p->off = 0;
        else if (n == 0)
            p->eof = true;
        else if (errno != EAGAIN && errno != EINTR)
            return false;
    }
    while (p->off < p->len) {
        ssize_t n = send(p->to, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        p->off += (size_t)n;
    }
    if (p->eof && !p->shut) {
        shutdown(p->to, SHUT_WR);
        p->shut = true;
    }
    return true;
}

static short wants(const struct conn *c, int fd)
{
    short ev = 0;
    for (int i = 0; i < 2; i++) {
        const struct pipe *p = &c->p[i];
        if (p->from == fd && p->off == p->len && !p->eof)
            ev |= POLLIN;
        if (p->to == fd && p->off < p->len)
            ev |= POLLOUT;
    }
    return ev;
}

unsigned relay_fill(struct relay *r, struct pollfd *fds, unsigned max)
{
    unsigned n = 0;
    r->listen_slot = -1;
    if (n < max) {
        r->listen_slot = (int)n;
        fds[n++] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
    }
    for (unsigned i = 0; i < RELAY_CONNS; i++) {
        struct conn *c = &r->conns[i];
        c->slot[0] = c->slot[1] = -1;
        if (!c->used)
            continue;
        int fd[2] = {c->guest, c->host};
        short ev[2] = {c->connecting ? 0 : wants(c, c->guest),
                       c->connecting ? POLLOUT : wants(c, c->host)};
        for (int k = 0; k < 2; k++)
            if (ev[k] && n < max) {
                c->slot[k] = (int)n;
                fds[n++] = (struct pollfd){.fd = fd[k], .events = ev[k]};
            }
    }
    return n;
}

void relay_done(struct relay *r, const struct pollfd *fds, unsigned n)
{
    for (unsigned i = 0; i < RELAY_CONNS; i++) {
        struct conn *c = &r->conns[i];
        if (!c->used)
            continue;
        bool ready = false;
        for (int k = 0; k < 2; k++)
            ready |= c->slot[k] >= 0 && (unsigned)c->slot[k] < n && fds[c->slot[k]].revents;
        if (!ready)
            continue;
        if (c->connecting) {
            int e = 0;
            socklen_t len = sizeof e;
            getsockopt(c->host, SOL_SOCKET, SO_ERROR, &e, &len);
            if (e) {
                log_warn("guestfwd to %s: %s", r->target, strerror(e));
                conn_close(c);
                continue;
            }
            c->connecting = false;
        }
        if (!pipe_step(&c->p[0]) || !pipe_step(&c->p[1]) || (c->p[0].shut && c->p[1].shut))
            conn_close(c);
    }
    if (r->listen_slot >= 0 && (unsigned)r->listen_slot < n && fds[r->listen_slot].revents)
        accept_one(r);
}

void relay_close(struct relay *r)
{
    if (!r)
        return;
    for (unsigned i = 0; i < RELAY_CONNS; i++)
        if (r->conns[i].used)
            conn_close(&r->conns[i]);
    close(r->listen_fd);
    unlink(r->path);
    free(r);
}
