/* st_net.h: helpers shared by the self-test's network checks: loopback listeners and the
 * leak check (descriptors, pbufs, PCBs back to where a check started). */
#ifndef SVCOS_ST_NET_H
#define SVCOS_ST_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

struct net_base {
    int fds;       /* open descriptors */
    int have_lwip; /* running on svcos's netstack (natively: Linux's stack, no counters) */
    unsigned long long heap_bytes, heap_blocks;
    unsigned pbuf_pool, pbuf_ref, tcp_pcbs, tcp_listen, tcp_segs, udp_pcbs, sockets;
};

/* Records where a check starts. */
void net_begin(struct net_base *b);
/* Waits (up to 2 s of network time) for every connection the check made to finish, then
 * compares: 0, or -1 with what leaked in why. */
int net_end(const struct net_base *b, char *why);

/* A listening TCP socket on the loopback address of `family` (127.0.0.1 or ::1), port chosen
 * by the stack; its address in *sa / *len.  -1 on failure. */
int net_listen(int family, int backlog, struct sockaddr_storage *sa, socklen_t *len);
int net_nonblock(int fd);
/* A SOCK_STREAM socket connected (blocking) to sa. */
int net_connect(const struct sockaddr_storage *sa, socklen_t len);
/* Sends/receives exactly n bytes on a blocking socket: 0 or -1. */
int net_send_all(int fd, const void *buf, size_t n);
int net_recv_all(int fd, void *buf, size_t n);

#endif
