/* st_udp.c: UDP over loopback: sendto/recvfrom with addresses, datagram boundaries
 * (scatter/gather, MSG_TRUNC, MSG_PEEK), connected UDP, limits, IPv6, and getaddrinfo's
 * /etc/hosts path. */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_net.h"
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

static int udp_on(int family, struct sockaddr_storage *sa, socklen_t *len)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(sa, 0, sizeof *sa);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        *len = sizeof *in6;
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)sa, *len) < 0 ||
        getsockname(fd, (struct sockaddr *)sa, len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int readable(int fd, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    return poll(&pf, 1, ms) == 1 && (pf.revents & POLLIN);
}

static int basics(int family, char *why)
{
    struct sockaddr_storage sa, sb, from;
    socklen_t la, lb, lf = sizeof from;
    int a = udp_on(family, &sa, &la), b = udp_on(family, &sb, &lb), r = 0, avail = -1;
    char buf[128];
    if (a < 0 || b < 0)
        return fail(why, "UDP sockets (family %d): %s", family, strerror(errno));
    if (sendto(a, "hello", 5, 0, (struct sockaddr *)&sb, lb) != 5 || !readable(b, 1000) ||
        ioctl(b, FIONREAD, &avail) < 0 || avail != 5)
        r = fail(why, "sendto/FIONREAD: %d (%s)", avail, strerror(errno));
    else if (recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &lf) != 5 ||
             memcmp(buf, "hello", 5) || lf != la || memcmp(&from, &sa, la))
        r = fail(why, "recvfrom: wrong data or source address");
    if (r || family != AF_INET) {
        close(a);
        close(b);
        return r;
    }
    /* One datagram from three pieces; read back in two, then truncated and peeked. */
    struct iovec out[3] = {{"one-", 4}, {"two-", 4}, {"three", 5}};
    struct msghdr m = {.msg_name = &sb, .msg_namelen = lb, .msg_iov = out, .msg_iovlen = 3};
    char p1[6], p2[32];
    struct iovec in[2] = {{p1, sizeof p1}, {p2, sizeof p2}};
    struct msghdr mi = {.msg_iov = in, .msg_iovlen = 2};
    if (sendmsg(a, &m, 0) != 13 || !readable(b, 1000) || recvmsg(b, &mi, 0) != 13 ||
        memcmp(p1, "one-tw", 6) || memcmp(p2, "o-three", 7) || (mi.msg_flags & MSG_TRUNC))
        r = fail(why, "sendmsg/recvmsg gather and scatter");
    /* readv/writev on a datagram socket: one datagram too; AF_UNSPEC disconnects. */
    struct iovec wv[2] = {{"ab", 2}, {"cdef", 4}};
    char r1[3], r2[8];
    struct iovec rv[2] = {{r1, 3}, {r2, sizeof r2}};
    struct sockaddr_storage sd, none = {.ss_family = AF_UNSPEC};
    socklen_t ld;
    int d = udp_on(AF_INET, &sd, &ld);
    if (!r && (d < 0 || connect(d, (struct sockaddr *)&sb, lb) < 0 || writev(d, wv, 2) != 6 ||
               !readable(b, 1000) || readv(b, rv, 2) != 6 || memcmp(r1, "abc", 3) ||
               memcmp(r2, "def", 3)))
        r = fail(why, "writev/readv of one datagram: %s", strerror(errno));
    if (!r && (connect(d, (struct sockaddr *)&none, sizeof none) < 0 || send(d, "x", 1, 0) != -1 ||
               errno != EDESTADDRREQ))
        r = fail(why, "disconnect with AF_UNSPEC: %s", strerror(errno));
    if (d >= 0)
        close(d);
    char big[100];
    memset(big, 'x', sizeof big);
    struct iovec tin = {buf, 10};
    struct msghdr mt = {.msg_iov = &tin, .msg_iovlen = 1};
    if (!r && (sendto(a, big, sizeof big, 0, (struct sockaddr *)&sb, lb) != 100 ||
               !readable(b, 1000) || recv(b, buf, 4, MSG_PEEK) != 4 ||
               recvmsg(b, &mt, MSG_TRUNC) != 100 || !(mt.msg_flags & MSG_TRUNC)))
        r = fail(why, "MSG_PEEK / MSG_TRUNC");
    if (!r && (recv(b, buf, sizeof buf, MSG_DONTWAIT) != -1 || errno != EAGAIN))
        r = fail(why, "an empty socket: %s, not EAGAIN", strerror(errno));
    /* Connected: send() without an address, only that peer is heard. */
    struct sockaddr_storage sc, peer;
    socklen_t lc, lp = sizeof peer;
    int c = udp_on(AF_INET, &sc, &lc);
    if (!r && (send(a, "x", 1, 0) != -1 || errno != EDESTADDRREQ))
        r = fail(why, "send unconnected: %s, not EDESTADDRREQ", strerror(errno));
    if (!r && (connect(a, (struct sockaddr *)&sb, lb) < 0 ||
               getpeername(a, (struct sockaddr *)&peer, &lp) < 0 || memcmp(&peer, &sb, lb) ||
               send(a, "conn", 4, 0) != 4 || !readable(b, 1000) || recv(b, buf, 8, 0) != 4))
        r = fail(why, "connected UDP: %s", strerror(errno));
    if (!r && (sendto(c, "stranger", 8, 0, (struct sockaddr *)&sa, la) != 8 ||
               sendto(b, "reply", 5, 0, (struct sockaddr *)&sa, la) != 5 || !readable(a, 1000) ||
               recv(a, buf, sizeof buf, 0) != 5 || memcmp(buf, "reply", 5) || readable(a, 20)))
        r = fail(why, "a connected socket heard a stranger, or not its peer");
    /* Limits: 60000 bytes fit in one datagram, 70000 do not. */
    static char huge[70000];
    if (!r && (sendto(c, huge, 60000, 0, (struct sockaddr *)&sb, lb) != 60000 ||
               !readable(b, 1000) || recv(b, huge, sizeof huge, 0) != 60000))
        r = fail(why, "a 60000-byte datagram: %s", strerror(errno));
    if (!r &&
        (sendto(c, huge, sizeof huge, 0, (struct sockaddr *)&sb, lb) != -1 || errno != EMSGSIZE))
        r = fail(why, "a 70000-byte datagram: %s, not EMSGSIZE", strerror(errno));
    struct sockaddr_in bc = {.sin_family = AF_INET, .sin_port = htons(9)};
    bc.sin_addr.s_addr = htonl(INADDR_BROADCAST);
    if (!r && (sendto(c, "b", 1, 0, (struct sockaddr *)&bc, sizeof bc) != -1 || errno != EACCES))
        r = fail(why, "broadcast without SO_BROADCAST: %s, not EACCES", strerror(errno));
    /* A small SO_RCVBUF drops what does not fit. */
    int small = 4096, got = 0;
    setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    for (int i = 0; i < 20 && !r; i++)
        sendto(c, huge, 1000, 0, (struct sockaddr *)&sb, lb);
    while (!r && readable(b, 50) && recv(b, buf, sizeof buf, 0) > 0)
        got++;
    if (!r && (got == 0 || got >= 20))
        r = fail(why, "SO_RCVBUF 4096 kept %d of 20 datagrams of 1000 bytes", got);
    close(a);
    close(b);
    close(c);
    return r;
}

static int resolve_localhost(char *why)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int e = getaddrinfo("localhost", "80", &hints, &res);
    int ok = e == 0 && res && res->ai_family == AF_INET &&
             ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    if (res)
        freeaddrinfo(res);
    return ok ? 0 : fail(why, "getaddrinfo(localhost): %s", e ? gai_strerror(e) : "wrong");
}

int check_udp(struct st_ctx *c, char *why)
{
    (void)c;
    struct net_base b;
    net_begin(&b);
    if (basics(AF_INET, why) < 0 || basics(AF_INET6, why) < 0 || resolve_localhost(why) < 0)
        return -1;
    return net_end(&b, why);
}
