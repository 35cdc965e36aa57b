/* st_tcp_edge.c: TCP semantics beyond the happy path: non-blocking connect with poll/epoll,
 * refusal, half-close and EPOLLRDHUP, a reset mid-transfer, backpressure both ways, timeouts,
 * options (ENOPROTOOPT for the unsupported), names, dual-stack IPv6. */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#pragma weak netstack_get_stats
struct netstack_stats;
void netstack_get_stats(struct netstack_stats *st);

struct conn2 {
    int l, c, s; /* listener, client, accepted server end */
    struct sockaddr_storage sa;
    socklen_t salen;
};

static void close3(struct conn2 *k)
{
    if (k->c >= 0)
        close(k->c);
    if (k->s >= 0)
        close(k->s);
    if (k->l >= 0)
        close(k->l);
    k->c = k->s = k->l = -1;
}

static int open2(struct conn2 *k, char *why)
{
    k->c = k->s = -1;
    k->l = net_listen(AF_INET, 8, &k->sa, &k->salen);
    if (k->l < 0)
        return fail(why, "listen: %s", strerror(errno));
    k->c = net_connect(&k->sa, k->salen);
    k->s = k->c < 0 ? -1 : accept4(k->l, NULL, NULL, SOCK_CLOEXEC);
    if (k->s < 0) {
        close3(k);
        return fail(why, "connect/accept: %s", strerror(errno));
    }
    return 0;
}

static int so_error(int fd)
{
    int e = -1;
    socklen_t len = sizeof e;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 ? -errno : e;
}

/* A port nothing listens on: bound once, then released. */
static int free_port(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = bind(fd, (struct sockaddr *)sa, sizeof *sa) == 0 &&
                    getsockname(fd, (struct sockaddr *)sa, &len) == 0
                ? 0
                : -1;
    close(fd);
    return r;
}

static int nonblocking_connect(char *why)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int l = net_listen(AF_INET, 8, &sa, &salen);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC), r = -1;
    if (l < 0 || c < 0 || ep < 0)
        return fail(why, "setup: %s", strerror(errno));
    int cr = connect(c, (struct sockaddr *)&sa, salen);
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.u32 = 7}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
    if (cr < 0 && errno != EINPROGRESS)
        fail(why, "non-blocking connect: %s", strerror(errno));
    else if (epoll_wait(ep, &out, 1, 2000) != 1 || !(out.events & EPOLLOUT) || out.data.u32 != 7)
        fail(why, "epoll did not report the connection writable");
    else if (so_error(c) != 0)
        fail(why, "SO_ERROR after a good connect: %d", so_error(c));
    else if (epoll_wait(ep, &out, 1, 0) != 0)
        fail(why, "edge-triggered EPOLLOUT reported twice");
    else {
        int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        r = s < 0 ? fail(why, "accept: %s", strerror(errno)) : 0;
        if (s >= 0)
            close(s);
    }
    close(ep);
    close(c);
    close(l);
    return r;
}

static int refused(char *why)
{
    struct sockaddr_in sa;
    if (free_port(&sa) < 0)
        return fail(why, "free port: %s", strerror(errno));
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int cr = connect(c, (struct sockaddr *)&sa, sizeof sa);
    struct pollfd pf = {.fd = c, .events = POLLOUT | POLLIN};
    int r = 0;
    if (cr == 0 || (errno != EINPROGRESS && errno != ECONNREFUSED))
        r = fail(why, "connect to a closed port: %d %s", cr, strerror(errno));
    else if (cr < 0 && errno == EINPROGRESS && (poll(&pf, 1, 2000) != 1 || !(pf.revents & POLLERR)))
        r = fail(why, "refused connect: poll revents 0x%x", pf.revents);
    else if (cr < 0 && errno == EINPROGRESS && so_error(c) != ECONNREFUSED)
        r = fail(why, "refused connect: SO_ERROR is not ECONNREFUSED");
    else if (so_error(c) != 0)
        r = fail(why, "SO_ERROR not cleared by reading it");
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!r && (connect(c, (struct sockaddr *)&sa, sizeof sa) == 0 || errno != ECONNREFUSED))
        r = fail(why, "blocking connect to a closed port: %s", strerror(errno));
    close(c);
    return r;
}

static int half_close(char *why)
{
    struct conn2 k;
    if (open2(&k, why) < 0)
        return -1;
    int ep = epoll_create1(EPOLL_CLOEXEC), r = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, k.c, &ev);
    char b[8];
    if (epoll_wait(ep, &out, 1, 0) != 0)
        r = fail(why, "idle connection reported readable");
    else if (shutdown(k.s, SHUT_WR) < 0 || epoll_wait(ep, &out, 1, 2000) != 1 ||
             !(out.events & EPOLLRDHUP) || !(out.events & EPOLLIN))
        r = fail(why, "peer's shutdown(SHUT_WR) gave no EPOLLRDHUP");
    else if (recv(k.c, b, sizeof b, 0) != 0)
        r = fail(why, "no end of file after the peer's FIN");
    else if (send(k.c, "late", 4, MSG_NOSIGNAL) != 4 || net_recv_all(k.s, b, 4) < 0 ||
             memcmp(b, "late", 4))
        r = fail(why, "the other direction stopped after a half-close");
    else if (send(k.s, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
        r = fail(why, "send after shutdown(SHUT_WR) did not fail with EPIPE");
    close(ep);
    close3(&k);
    return r;
}

/* The receiver never reads: the sender must stop (EAGAIN) once the window and its own buffer
 * are full, and poll must not call it writable; reading opens the window again. */
static int backpressure(char *why)
{
    struct conn2 k;
    if (open2(&k, why) < 0)
        return -1;
    static char buf[65536];
    memset(buf, 'b', sizeof buf);
    net_nonblock(k.c);
    size_t sent = 0;
    ssize_t w;
    int r = 0;
    while ((w = send(k.c, buf, sizeof buf, MSG_NOSIGNAL)) > 0 && sent < (64u << 20))
        sent += (size_t)w;
    struct pollfd pf = {.fd = k.c, .events = POLLOUT};
    if (w >= 0 || errno != EAGAIN || sent > (16u << 20))
        r = fail(why, "a sender to a reader that never reads got %zu bytes out (%s)", sent,
                 strerror(errno));
    else if (poll(&pf, 1, 100) != 0)
        r = fail(why, "a full socket was reported writable");
    int avail = -1;
    if (!r && (poll(&(struct pollfd){.fd = k.s, .events = POLLIN}, 1, 1000) != 1 ||
               ioctl(k.s, FIONREAD, &avail) < 0 || avail <= 0 || (size_t)avail > sent))
        r = fail(why, "FIONREAD %d of %zu sent", avail, sent);
    /* Reading it all lets everything through and the sender becomes writable. */
    size_t got = 0;
    while (!r && got < sent) {
        ssize_t n = recv(k.s, buf, sizeof buf, 0);
        if (n <= 0) {
            r = fail(why, "reading the backlog: %zd after %zu of %zu (%s)", n, got, sent,
                     strerror(errno));
            break;
        }
        got += (size_t)n;
    }
    if (!r && (poll(&pf, 1, 1000) != 1 || !(pf.revents & POLLOUT)))
        r = fail(why, "the sender did not become writable after the reader caught up");
    /* A blocking send with SO_SNDTIMEO runs the loop until the timeout, then reports what
     * fitted (or EAGAIN if nothing did). */
    struct timeval tv = {0, 100000};
    int blocking = 0;
    ioctl(k.c, FIONBIO, &blocking);
    setsockopt(k.c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    static char big[1 << 20];
    double dt = 0;
    w = 0;
    for (int i = 0; i < 64 && !r; i++) {
        double t0 = now_ms();
        w = send(k.c, big, sizeof big, MSG_NOSIGNAL);
        dt = now_ms() - t0;
        if (w != (ssize_t)sizeof big)
            break;
    }
    if (!r && (w == (ssize_t)sizeof big || (w < 0 && errno != EAGAIN) || dt < 90 || dt > 2000))
        r = fail(why, "blocking send with SO_SNDTIMEO: %zd bytes after %.1f ms", w, dt);
    close3(&k);
    return r;
}

static int reset_mid_transfer(char *why)
{
    struct conn2 k;
    if (open2(&k, why) < 0)
        return -1;
    static char buf[65536];
    net_nonblock(k.c);
    ssize_t w;
    while ((w = send(k.c, buf, sizeof buf, MSG_NOSIGNAL)) > 0)
        ;
    /* SO_LINGER {1, 0}: close with a reset (with unread data Linux resets anyway). */
    struct linger lg = {1, 0};
    int r = 0;
    if (setsockopt(k.s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
        r = fail(why, "SO_LINGER: %s", strerror(errno));
    close(k.s);
    k.s = -1;
    struct pollfd pf = {.fd = k.c, .events = POLLIN | POLLOUT};
    if (!r && (poll(&pf, 1, 2000) != 1 || !(pf.revents & POLLERR) || !(pf.revents & POLLHUP)))
        r = fail(why, "reset: poll revents 0x%x", pf.revents);
    char b[16];
    if (!r && (recv(k.c, b, sizeof b, 0) != -1 || errno != ECONNRESET))
        r = fail(why, "recv after a reset: %s, not ECONNRESET", strerror(errno));
    if (!r && (send(k.c, b, sizeof b, MSG_NOSIGNAL) != -1 || errno != EPIPE))
        r = fail(why, "send after the reset was reported: %s, not EPIPE", strerror(errno));
    close3(&k);
    return r;
}

static int options(char *why)
{
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int one = 1, v = 0, r = 0;
    socklen_t len = sizeof v;
    struct {
        int fd, level, opt;
        const char *name;
        int lwip_only; /* Linux has it */
    } unsupported[] = {
        {t, SOL_SOCKET, 9999, "SOL_SOCKET/9999", 0},
        {t, IPPROTO_TCP, 9999, "IPPROTO_TCP/9999", 0},
        {u, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY on UDP", 0},
        {t, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", 1},
        {t, IPPROTO_TCP, TCP_CORK, "TCP_CORK", 1},
        {t, IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK", 1},
        {u, IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", 1},
        {t, SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", 1},
    };
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0] && !r; i++) {
        if (unsupported[i].lwip_only && !netstack_get_stats)
            continue;
        if (setsockopt(unsupported[i].fd, unsupported[i].level, unsupported[i].opt, &one,
                       sizeof one) != -1 ||
            errno != ENOPROTOOPT)
            r = fail(why, "setsockopt(%s): %s, not ENOPROTOOPT", unsupported[i].name,
                     strerror(errno));
    }
    if (!r && netstack_get_stats &&
        (getsockopt(t, IPPROTO_TCP, TCP_INFO, &v, &len) != -1 || errno != ENOPROTOOPT))
        r = fail(why, "getsockopt(TCP_INFO): %s, not ENOPROTOOPT", strerror(errno));
    struct {
        int level, opt, val;
        const char *name;
    } supported[] = {
        {IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY"},
        {SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
        {IPPROTO_TCP, TCP_KEEPIDLE, 30, "TCP_KEEPIDLE"},
        {IPPROTO_TCP, TCP_KEEPINTVL, 5, "TCP_KEEPINTVL"},
        {IPPROTO_TCP, TCP_KEEPCNT, 4, "TCP_KEEPCNT"},
        {SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR"},
        {IPPROTO_IP, IP_TTL, 33, "IP_TTL"},
    };
    for (size_t i = 0; i < sizeof supported / sizeof supported[0] && !r; i++) {
        len = sizeof v;
        if (setsockopt(t, supported[i].level, supported[i].opt, &supported[i].val, sizeof(int)) <
                0 ||
            getsockopt(t, supported[i].level, supported[i].opt, &v, &len) < 0 ||
            v != supported[i].val || len != sizeof v)
            r = fail(why, "%s: set %d, got %d (%s)", supported[i].name, supported[i].val, v,
                     strerror(errno));
    }
    len = sizeof v;
    if (!r && (getsockopt(t, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM))
        r = fail(why, "SO_TYPE %d", v);
    if (!r && (setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, 2) != -1 || errno != EINVAL))
        r = fail(why, "a short option value: %s, not EINVAL", strerror(errno));
    len = sizeof v;
    if (!r && (getsockopt(u, SOL_SOCKET, SO_PROTOCOL, &v, &len) < 0 || v != IPPROTO_UDP))
        r = fail(why, "SO_PROTOCOL on UDP: %d", v);
    close(t);
    close(u);
    return r;
}

static int names_and_errors(char *why)
{
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char b[4];
    if (getpeername(t, (struct sockaddr *)&ss, &len) != -1 || errno != ENOTCONN)
        r = fail(why, "getpeername unconnected: %s", strerror(errno));
    else if (recv(t, b, sizeof b, MSG_DONTWAIT) != -1 || errno != ENOTCONN)
        r = fail(why, "recv unconnected: %s", strerror(errno));
    else if (send(t, b, sizeof b, MSG_NOSIGNAL) != -1 || errno != EPIPE)
        r = fail(why, "send unconnected: %s", strerror(errno));
    close(t);
    /* A second listener on the same port (no SO_REUSEADDR on the new one). */
    struct sockaddr_storage sa;
    socklen_t salen;
    int l = net_listen(AF_INET, 4, &sa, &salen);
    t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!r && (bind(t, (struct sockaddr *)&sa, salen) != -1 || errno != EADDRINUSE))
        r = fail(why, "bind to a listening port: %s, not EADDRINUSE", strerror(errno));
    close(t);
    /* A blocking recv with SO_RCVTIMEO times out with EAGAIN. */
    int c = net_connect(&sa, salen);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    struct timeval tv = {0, 50000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    double t0 = now_ms();
    ssize_t n = recv(s, b, sizeof b, 0);
    double dt = now_ms() - t0;
    if (!r && (n != -1 || errno != EAGAIN || dt < 45 || dt > 1000))
        r = fail(why, "SO_RCVTIMEO 50 ms: %zd %s after %.1f ms", n, strerror(errno), dt);
    /* MSG_PEEK leaves the data; MSG_WAITALL waits for all of it. */
    if (!r && (send(c, "abcdef", 6, 0) != 6 || recv(s, b, 3, MSG_PEEK | MSG_WAITALL) != 3 ||
               memcmp(b, "abc", 3) || recv(s, b, 4, MSG_WAITALL) != 4 || memcmp(b, "abcd", 4)))
        r = fail(why, "MSG_PEEK / MSG_WAITALL");
    close(c);
    close(s);
    close(l);
    return r;
}

/* An IPv6 listener on "::" takes IPv4 connections too, showing them IPv4-mapped. */
static int dual_stack(char *why)
{
    int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
    socklen_t len = sizeof a6;
    if (l < 0 || bind(l, (struct sockaddr *)&a6, sizeof a6) < 0 || listen(l, 4) < 0 ||
        getsockname(l, (struct sockaddr *)&a6, &len) < 0)
        return fail(why, "IPv6 listener: %s", strerror(errno));
    struct sockaddr_storage v4 = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&v4;
    in->sin_family = AF_INET;
    in->sin_port = a6.sin6_port;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int c = net_connect(&v4, sizeof *in);
    struct sockaddr_in6 peer;
    len = sizeof peer;
    int s = c < 0 ? -1 : accept4(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
    char txt[64] = "";
    if (s >= 0)
        inet_ntop(AF_INET6, &peer.sin6_addr, txt, sizeof txt);
    if (s < 0 || peer.sin6_family != AF_INET6 || strcmp(txt, "::ffff:127.0.0.1"))
        r = fail(why, "IPv4 to a dual-stack listener: %s, peer %s", strerror(errno), txt);
    if (c >= 0)
        close(c);
    if (s >= 0)
        close(s);
    close(l);
    return r;
}

int check_tcp_edge(struct st_ctx *c, char *why)
{
    (void)c;
    struct net_base b;
    net_begin(&b);
    if (nonblocking_connect(why) < 0 || refused(why) < 0 || half_close(why) < 0 ||
        backpressure(why) < 0 || reset_mid_transfer(why) < 0 || options(why) < 0 ||
        names_and_errors(why) < 0 || dual_stack(why) < 0)
        return -1;
    return net_end(&b, why);
}
