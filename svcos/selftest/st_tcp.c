/* st_tcp.c: TCP echo over loopback: 1,000 sequential blocking connections, then 100 concurrent
 * non-blocking ones driven by epoll, with names checked and nothing leaked. */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_net.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define SEQ_CONNS  1000
#define CONC_CONNS 100
#define CONC_BYTES 4096

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* One blocking connection: connect, accept, echo a line, close (alternating who closes
 * first, so both ends see TIME_WAIT). */
static int one_echo(int l, const struct sockaddr_storage *sa, socklen_t salen, int i, char *why)
{
    int c = net_connect(sa, salen);
    if (c < 0)
        return fail(why, "connect #%d: %s", i, strerror(errno));
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof peer, llen = sizeof local;
    int s = accept4(l, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    if (s < 0) {
        close(c);
        return fail(why, "accept #%d: %s", i, strerror(errno));
    }
    int ok = getsockname(c, (struct sockaddr *)&local, &llen) == 0 && same_addr(&peer, &local);
    char msg[64], back[64];
    int n = snprintf(msg, sizeof msg, "echo %d", i);
    ok = ok && net_send_all(c, msg, (size_t)n) == 0 && net_recv_all(s, back, (size_t)n) == 0 &&
         net_send_all(s, back, (size_t)n) == 0 && net_recv_all(c, back, (size_t)n) == 0 &&
         !memcmp(msg, back, (size_t)n);
    close(i % 2 ? c : s);
    /* The other end sees the FIN as end of file. */
    ok = ok && recv(i % 2 ? s : c, back, sizeof back, 0) == 0;
    close(i % 2 ? s : c);
    return ok ? 0 : fail(why, "echo #%d failed (%s)", i, strerror(errno));
}

static int sequential(int family, int count, char *why)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int l = net_listen(family, 16, &sa, &salen);
    if (l < 0)
        return fail(why, "listen: %s", strerror(errno));
    int r = 0;
    for (int i = 0; i < count && r == 0; i++)
        r = one_echo(l, &sa, salen, i, why);
    close(l);
    return r;
}

/* 100 connections at once: each client sends CONC_BYTES, the server echoes, the client checks
 * and closes; every socket is non-blocking and one epoll set drives them all. */
struct conn {
    int fd, is_client, id;
    size_t sent, got;
    unsigned char buf[CONC_BYTES];
};

static void pattern(unsigned char *p, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + (size_t)id * 13);
}

static int concurrent(char *why)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int l = net_listen(AF_INET, 128, &sa, &salen), ep = epoll_create1(EPOLL_CLOEXEC);
    static struct conn conns[2 * CONC_CONNS];
    int nconn = 0, done = 0, r = 0;
    if (l < 0 || ep < 0 || net_nonblock(l) < 0)
        return fail(why, "listen/epoll: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0xffff};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    for (int i = 0; i < CONC_CONNS; i++) {
        struct conn *c = &conns[nconn];
        memset(c, 0, sizeof *c);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        c->is_client = 1;
        c->id = i;
        pattern(c->buf, CONC_BYTES, i);
        if (c->fd < 0 ||
            (connect(c->fd, (struct sockaddr *)&sa, salen) < 0 && errno != EINPROGRESS))
            return fail(why, "client %d: %s", i, strerror(errno));
        ev = (struct epoll_event){.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                                  .data.u32 = (uint32_t)nconn};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        nconn++;
    }
    double t0 = now_ms();
    while (done < CONC_CONNS && r == 0) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 2000);
        if (n <= 0 || now_ms() - t0 > 20000) {
            r = fail(why, "stalled with %d of %d echoed (epoll_wait %d)", done, CONC_CONNS, n);
            break;
        }
        for (int k = 0; k < n && r == 0; k++) {
            if (evs[k].data.u32 == 0xffff) { /* the listener: take every waiting connection */
                int s;
                while ((s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct conn *c = &conns[nconn];
                    memset(c, 0, sizeof *c);
                    c->fd = s;
                    ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP,
                                              .data.u32 = (uint32_t)nconn};
                    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
                    nconn++;
                }
                continue;
            }
            struct conn *c = &conns[evs[k].data.u32];
            if (c->fd < 0)
                continue;
            if (c->is_client) {
                if ((evs[k].events & EPOLLERR) && c->sent < CONC_BYTES) {
                    r = fail(why, "client %d: error event", c->id);
                    break;
                }
                while (c->sent < CONC_BYTES) {
                    ssize_t w = send(c->fd, c->buf + c->sent, CONC_BYTES - c->sent, MSG_NOSIGNAL);
                    if (w <= 0)
                        break;
                    c->sent += (size_t)w;
                }
                if (c->sent == CONC_BYTES) {
                    ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP,
                                              .data.u32 = evs[k].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                unsigned char in[CONC_BYTES];
                ssize_t g;
                while ((g = recv(c->fd, in, sizeof in, 0)) > 0) {
                    if (memcmp(in, c->buf + c->got, (size_t)g)) {
                        r = fail(why, "client %d: wrong echo at %zu", c->id, c->got);
                        break;
                    }
                    c->got += (size_t)g;
                }
                if (c->got == CONC_BYTES) {
                    close(c->fd); /* the server sees EOF and closes its end */
                    c->fd = -1;
                    done++;
                }
            } else {
                ssize_t g;
                while ((g = recv(c->fd, c->buf, sizeof c->buf, 0)) > 0)
                    if (net_send_all(c->fd, c->buf, (size_t)g) < 0) /* small: fits the window */
                        r = fail(why, "server echo: %s", strerror(errno));
                if (g == 0) {
                    close(c->fd);
                    c->fd = -1;
                }
            }
        }
    }
    for (int i = 0; i < nconn; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    close(l);
    close(ep);
    return r;
}

int check_tcp(struct st_ctx *c, char *why)
{
    struct net_base b;
    net_begin(&b);
    double t0 = now_ms();
    if (sequential(AF_INET, SEQ_CONNS, why) < 0)
        return -1;
    c->tcp_seq_conn_ms = (now_ms() - t0) / SEQ_CONNS;
    if (sequential(AF_INET6, 20, why) < 0 || concurrent(why) < 0)
        return -1;
    return net_end(&b, why);
}
