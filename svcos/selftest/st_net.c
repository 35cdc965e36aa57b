/* st_net.c: the network checks' shared helpers: loopback listeners and connections, and the
 * leak check through the netstack's counters. */
#define _GNU_SOURCE
#include "st_net.h"
#include "selftest.h"
#include <errno.h>
#include <fcntl.h>
#include <netstack.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#pragma weak netstack_get_stats

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void snapshot(struct net_base *b)
{
    memset(b, 0, sizeof *b);
    b->fds = count_fds();
    if (!netstack_get_stats)
        return;
    struct netstack_stats st;
    netstack_get_stats(&st);
    b->have_lwip = 1;
    b->heap_bytes = st.heap_bytes;
    b->heap_blocks = st.heap_blocks;
    b->pbuf_pool = st.pbuf_pool;
    b->pbuf_ref = st.pbuf_ref;
    b->tcp_pcbs = st.tcp_pcbs;
    b->tcp_listen = st.tcp_listen;
    b->tcp_segs = st.tcp_segs;
    b->udp_pcbs = st.udp_pcbs;
    b->sockets = st.sockets;
}

void net_begin(struct net_base *b)
{
    snapshot(b);
}

static int same(const struct net_base *a, const struct net_base *b)
{
    return a->fds == b->fds && a->heap_bytes == b->heap_bytes && a->heap_blocks == b->heap_blocks &&
           a->pbuf_pool == b->pbuf_pool && a->pbuf_ref == b->pbuf_ref &&
           a->tcp_pcbs == b->tcp_pcbs && a->tcp_listen == b->tcp_listen &&
           a->tcp_segs == b->tcp_segs && a->udp_pcbs == b->udp_pcbs && a->sockets == b->sockets;
}

int net_end(const struct net_base *b, char *why)
{
    struct net_base now;
    /* Closing handshakes finish in the event loop: let it run (TIME_WAIT is lwIP's). */
    for (int i = 0; i < 400; i++) {
        snapshot(&now);
        if (same(b, &now))
            return 0;
        poll(NULL, 0, 5);
    }
    return fail(why,
                "leak: fds %d->%d heap %llu->%llu B in %llu->%llu blocks, pbufs pool %u->%u ref "
                "%u->%u, tcp pcbs %u->%u listen %u->%u segs %u->%u, udp %u->%u, sockets %u->%u",
                b->fds, now.fds, b->heap_bytes, now.heap_bytes, b->heap_blocks, now.heap_blocks,
                b->pbuf_pool, now.pbuf_pool, b->pbuf_ref, now.pbuf_ref, b->tcp_pcbs, now.tcp_pcbs,
                b->tcp_listen, now.tcp_listen, b->tcp_segs, now.tcp_segs, b->udp_pcbs, now.udp_pcbs,
                b->sockets, now.sockets);
}

int net_listen(int family, int backlog, struct sockaddr_storage *sa, socklen_t *len)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
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
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)sa, *len) < 0 || listen(fd, backlog) < 0 ||
        getsockname(fd, (struct sockaddr *)sa, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int net_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int net_connect(const struct sockaddr_storage *sa, socklen_t len)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (const struct sockaddr *)sa, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int net_send_all(int fd, const void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

int net_recv_all(int fd, void *buf, size_t n)
{
    return recv(fd, buf, n, MSG_WAITALL) == (ssize_t)n ? 0 : -1;
}
