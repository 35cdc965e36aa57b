/* slirp_backend.c: the user-mode network: libslirp as the guest's router, DHCP and DNS server and
 * NAT, driven from the card's thread (slirp is not thread-safe: every call is made there, except
 * slirp_new before the thread starts and slirp_cleanup after it ended). */
#include "base/log.h"
#include "net/backends.h"
#include "net/guestfwd_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ll
/* The hostfwd listeners' backlog (libslirp listens with 1, see deepen_backlogs). */
#define HOSTFWD_BACKLOG 128

/* A timer slirp asked for (its TCP timers, IPv6 router advertisements). */
struct sl_timer {
    struct sl_timer *next;
    int64_t expire_ms; /* -1: not armed */
    SlirpTimerCb cb;   /* the old interface's callback, or NULL ... */
    SlirpTimerId id;   /* ... and then slirp_handle_timer with this id */
    void *cb_opaque;
};

struct sl {
    Slirp *slirp;
    struct nic_port port;
    char vm[32];
    struct sl_timer *timers;
    /* The descriptors of the current wait: slirp's first, then the relays'. */
    struct pollfd *fds;
    unsigned nfds, max, nslirp;
    const struct pollfd *ready;
    unsigned nready;
    char dir[64]; /* holds the guestfwd relays' Unix sockets */
    unsigned nrelays;
    struct relay *relays[NIC_FWD_MAX];
    unsigned relay_n[NIC_FWD_MAX]; /* descriptors each relay added to this wait */
    uint64_t rx_dropped;
};

static int64_t clock_ns(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* A frame for the guest.  A guest without a free receive buffer loses it: slirp's TCP sends
 * again, and ARP and DHCP ask again. */
static ssize_t send_packet(const void *buf, size_t len, void *opaque)
{
    struct sl *s = opaque;
    enum vnet_rx r = s->port.receive(s->port.dev, buf, len);
    if (r != VNET_RX_DELIVERED && s->rx_dropped++ % 1000 == 0)
        log_debug("%s: user net: frame of %zu bytes for the guest dropped (%d; %llu so far)", s->vm,
                  len, (int)r, (unsigned long long)s->rx_dropped);
    return (ssize_t)len;
}

static void guest_error(const char *msg, void *opaque)
{
    struct sl *s = opaque;
    log_debug("%s: user net: %s", s->vm, msg);
}

static struct sl_timer *timer_add(struct sl *s, SlirpTimerCb cb, SlirpTimerId id, void *cb_opaque)
{
    struct sl_timer *t = calloc(1, sizeof *t);
    if (!t)
        abort(); /* slirp has no way to hear of a failure here */
    *t = (struct sl_timer){s->timers, -1, cb, id, cb_opaque};
    s->timers = t;
    return t;
}

static void *timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    return timer_add(opaque, cb, 0, cb_opaque);
}

static void *timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    return timer_add(opaque, NULL, id, cb_opaque);
}

static void timer_free(void *timer, void *opaque)
{
    struct sl *s = opaque;
    for (struct sl_timer **p = &s->timers; *p; p = &(*p)->next)
        if (*p == timer) {
            *p = ((struct sl_timer *)timer)->next;
            free(timer);
            return;
        }
}

static void timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    ((struct sl_timer *)timer)->expire_ms = expire_ms;
}

static void no_fd(int fd, void *opaque)
{
    (void)fd, (void)opaque; /* the descriptors are asked for anew before every wait */
}

static void no_notify(void *opaque)
{
    (void)opaque; /* the card's thread asks slirp again after every wake-up anyway */
}

static const SlirpCb callbacks = {
    .send_packet = send_packet,
    .guest_error = guest_error,
    .clock_get_ns = clock_ns,
    .timer_new = timer_new,
    .timer_free = timer_free,
    .timer_mod = timer_mod,
    .register_poll_fd = no_fd,
    .unregister_poll_fd = no_fd,
    .notify = no_notify,
    .timer_new_opaque = timer_new_opaque,
};

static int add_poll(int fd, int events, void *opaque)
{
    struct sl *s = opaque;
    if (s->nfds == s->max)
        return -1; /* slirp then hears of no event on it this time */
    short ev =
        (short)((events & SLIRP_POLL_IN ? POLLIN : 0) | (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
                (events & SLIRP_POLL_PRI ? POLLPRI : 0));
    s->fds[s->nfds] = (struct pollfd){.fd = fd, .events = ev};
    return (int)s->nfds++;
}

static int get_revents(int idx, void *opaque)
{
    struct sl *s = opaque;
    if (idx < 0 || (unsigned)idx >= s->nready)
        return 0;
    short r = s->ready[idx].revents;
    return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
           (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & (POLLERR | POLLNVAL) ? SLIRP_POLL_ERR : 0) |
           (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

static unsigned sl_poll_fill(void *ctx, struct pollfd *fds, unsigned max, int *timeout_ms)
{
    struct sl *s = ctx;
    s->fds = fds;
    s->max = max;
    s->nfds = 0;
    uint32_t t = *timeout_ms < 0 ? UINT32_MAX : (uint32_t)*timeout_ms;
    slirp_pollfds_fill(s->slirp, &t, add_poll, s);
    int64_t now = clock_ns(NULL) / MS;
    for (struct sl_timer *tm = s->timers; tm; tm = tm->next)
        if (tm->expire_ms >= 0) {
            int64_t left = tm->expire_ms > now ? tm->expire_ms - now : 0;
            if ((uint64_t)left < t)
                t = (uint32_t)left;
        }
    *timeout_ms = t == UINT32_MAX ? -1 : (int)(t > INT32_MAX ? INT32_MAX : t);
    s->nslirp = s->nfds;
    for (unsigned i = 0; i < s->nrelays; i++) {
        s->relay_n[i] = relay_fill(s->relays[i], fds + s->nfds, max - s->nfds);
        s->nfds += s->relay_n[i];
    }
    return s->nfds;
}

static void fire_timers(struct sl *s)
{
    int64_t now = clock_ns(NULL) / MS;
    /* A callback may arm, disarm or free timers: start over after each. */
    for (bool again = true; again;) {
        again = false;
        for (struct sl_timer *t = s->timers; t; t = t->next)
            if (t->expire_ms >= 0 && t->expire_ms <= now) {
                t->expire_ms = -1;
                if (t->cb)
                    t->cb(t->cb_opaque);
                else
                    slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
                again = true;
                break;
            }
    }
}

static void sl_poll_done(void *ctx, const struct pollfd *fds, unsigned n)
{
    struct sl *s = ctx;
    s->ready = fds;
    s->nready = n < s->nslirp ? n : s->nslirp;
    slirp_pollfds_poll(s->slirp, 0, get_revents, s);
    s->nready = 0;
    fire_timers(s);
    /* The relays' descriptors follow slirp's, in the order relay_fill gave them. */
    unsigned at = s->nslirp;
    for (unsigned i = 0; i < s->nrelays && at + s->relay_n[i] <= n; i++) {
        relay_done(s->relays[i], fds + at, s->relay_n[i]);
        at += s->relay_n[i];
    }
}

static void sl_send(void *ctx, const struct iovec *iov, unsigned n)
{
    struct sl *s = ctx;
    /* slirp takes one buffer; the guest may change its own meanwhile, so copy in any case. */
    static _Thread_local uint8_t frame[65550 + 64];
    size_t len = 0;
    for (unsigned i = 0; i < n; i++) {
        if (iov[i].iov_len > sizeof frame - len)
            return;
        memcpy(frame + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    slirp_input(s->slirp, frame, (int)len);
}

static void sl_close(void *ctx)
{
    struct sl *s = ctx;
    if (!s)
        return;
    if (s->slirp)
        slirp_cleanup(s->slirp);
    for (unsigned i = 0; i < s->nrelays; i++)
        relay_close(s->relays[i]);
    if (s->dir[0])
        rmdir(s->dir);
    while (s->timers) {
        struct sl_timer *t = s->timers;
        s->timers = t->next;
        free(t);
    }
    free(s);
}

static int add_forwards(struct sl *s, const struct nic_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < cfg->nhostfwd; i++) {
        const struct nic_hostfwd *f = &cfg->hostfwd[i];
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &f->host_addr, host, sizeof host);
        errno = 0;
        if (slirp_add_hostfwd(s->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
                              f->guest_port) < 0) {
            snprintf(err, errlen, "hostfwd: cannot listen on %s %s:%u: %s", f->udp ? "udp" : "tcp",
                     host, f->host_port, errno ? strerror(errno) : "refused");
            return -1;
        }
    }
    if (cfg->nguestfwd) {
        snprintf(s->dir, sizeof s->dir, "/tmp/vigil-net-XXXXXX");
        if (!mkdtemp(s->dir)) {
            snprintf(err, errlen, "guestfwd: mkdtemp: %s", strerror(errno));
            s->dir[0] = 0;
            return -1;
        }
    }
    for (unsigned i = 0; i < cfg->nguestfwd; i++) {
        const struct nic_guestfwd *g = &cfg->guestfwd[i];
        char path[128];
        snprintf(path, sizeof path, "%s/fwd%u", s->dir, i);
        if (relay_open(&s->relays[s->nrelays], g, path, err, errlen) < 0)
            return -1;
        s->nrelays++;
        struct in_addr a = g->addr;
        if (slirp_add_unix(s->slirp, path, &a, g->port) < 0) {
            char ga[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &g->addr, ga, sizeof ga);
            snprintf(err, errlen, "guestfwd %s:%u refused by libslirp", ga, g->port);
            return -1;
        }
    }
    return 0;
}

static int raise_backlog(int fd, int events, void *opaque)
{
    (void)events, (void)opaque;
    int on = 0, type = 0;
    socklen_t len = sizeof on, tlen = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on &&
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM &&
        listen(fd, HOSTFWD_BACKLOG) < 0)
        log_warn("hostfwd: listen(backlog %d): %s", HOSTFWD_BACKLOG, strerror(errno));
    return -1; /* no poll slot: this round only looks */
}

/* libslirp listens for a TCP hostfwd with a backlog of 1: a host opening three connections at
 * once has its third SYN dropped and resent a second later.  listen() again on the same socket
 * deepens the queue (Linux keeps the socket and takes the new backlog); the listeners are the only
 * descriptors slirp has right after its forwards are added. */
static void deepen_backlogs(struct sl *s)
{
    uint32_t t = UINT32_MAX;
    slirp_pollfds_fill(s->slirp, &t, raise_backlog, s);
}

static int sl_open(const struct nic_config *cfg, const char *vm_name, struct nic_port port,
                   void **ctx, char *err, size_t errlen)
{
    struct sl *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->port = port;
    snprintf(s->vm, sizeof s->vm, "%s", vm_name);
    SlirpConfig sc = {
        .version = 4,
        .restricted = cfg->restricted,
        .in_enabled = true,
        .vnetwork.s_addr = htonl(0x0a000200u),
        .vnetmask.s_addr = htonl(0xffffff00u),
        .vhost.s_addr = htonl(0x0a000202u),
        .vhostname = "vigil",
        .vdhcp_start.s_addr = htonl(0x0a00020fu),
        .vnameserver.s_addr = htonl(0x0a000203u),
        .if_mtu = cfg->mtu,
        .if_mru = cfg->mtu,
    };
    s->slirp = slirp_new(&sc, &callbacks, s);
    if (!s->slirp) {
        snprintf(err, errlen, "libslirp refused its configuration (mtu %u)", cfg->mtu);
        sl_close(s);
        return -1;
    }
    if (add_forwards(s, cfg, err, errlen) < 0) {
        sl_close(s);
        return -1;
    }
    deepen_backlogs(s);
    *ctx = s;
    return 0;
}

const struct nic_backend_ops nic_slirp_backend = {
    .name = "user",
    .open = sl_open,
    .close = sl_close,
    .poll_fill = sl_poll_fill,
    .poll_done = sl_poll_done,
    .send = sl_send,
    .reopen_on_reset = true,
};
