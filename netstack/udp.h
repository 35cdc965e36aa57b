/* udp.h: the UDP socket object shared by udp_sock.c (the socket) and udp_io.c (its datagrams). */
#ifndef NETSTACK_UDP_H
#define NETSTACK_UDP_H

#include "ns.h"

#include "lwip/pbuf.h"
#include "lwip/udp.h"

/* A received datagram, queued until read, with its sender. */
struct dgram {
    struct dgram *next;
    struct pbuf *p;
    ip_addr_t from;
    u16_t port;
};

struct usock {
    struct nsock s; /* first: f->priv is also a struct nsock */
    struct udp_pcb *pcb;
    struct dgram *head, *tail;
    size_t queued; /* bytes in the queue, against SO_RCVBUF */
    unsigned connected : 1, rd_shut : 1, wr_shut : 1;
    ip_addr_t src; /* connected: the source address the route gives (Linux's getsockname) */
};

/* lwIP's receive callback: queues p (or drops it, as Linux does, when the queue is full). */
void usock_on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port);
/* Frees the oldest queued datagram. */
void usock_drop_first(struct usock *u);
long usock_recvmsg(struct file *f, struct msghdr *m, int flags);
long usock_sendmsg(struct file *f, const struct msghdr *m, int flags);
long usock_read(struct file *f, void *buf, size_t len);
long usock_write(struct file *f, const void *buf, size_t len);

#endif
