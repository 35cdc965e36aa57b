/* ns.h: the netstack's internal interfaces: lwIP glue, the socket objects shared by TCP and UDP,
 * and the Linux <-> lwIP translations. */
#ifndef NETSTACK_NS_H
#define NETSTACK_NS_H

#include "svcos.h"

#include "lwip/ip_addr.h"
#include "xlate.h"
#include <netinet/in.h>
#include <sys/socket.h>

/*
 * Everything here runs in svcos's system-call path (svcos.h's rules hold: no errno, no
 * malloc, results are >= 0 or -errno).  lwIP's values (err_t, SOF_* bits, its own errno
 * list) stay inside the netstack: the socket layer speaks Linux's constants only, through
 * errmap.c, sockopt.c and sockaddr.c.
 */

/* ---- netstack.c: bring-up and the event loop's source ---- */
void netstack_init(void);
/* Runs lwIP until quiet: due timers, loopback packets, NIC input.  Returns nonzero if a
 * socket's readiness may have changed.  Safe to call from any socket operation. */
int netstack_pump(void);
/* lwIP callbacks report readiness changes through this: epoll's edge triggering and the
 * event loop's "something changed" both hang on it. */
void ns_changed(struct file *f);
/* Adds hv events that mean input is waiting (a NIC's) to what the loop wakes for. */
void netstack_wake_on(uint64_t hv_events);

/* ---- nic.c: network interfaces (netstack.h has the drivers' side) ---- */
/* Reads ip=, gw=, dns= from the boot command line (for the first interface). */
void nic_cmdline_config(void);
/* Polls every interface's driver; returns the number of frames received. */
int nic_poll_all(void);
/* Ends a burst of transmissions (drivers notify their devices once per burst).  Called at the
 * end of every pump and of every socket call that can send. */
void nic_flush_all(void);

/* ---- virtio_net.c: hv's network card, if the boot info lists one ---- */
void vnet_probe(void);

/* ---- resolv.c: /etc/resolv.conf and /etc/hosts for musl's resolver ---- */
void resolv_init(void);
void resolv_set_servers(const uint32_t *dns_be, int n);
void resolv_update(void);

/* ---- mem.c: lwIP's heap on kmalloc, capped ---- */
void ns_mem_init(void);
struct ns_mem_stats {
    uint64_t bytes, blocks, peak, limit, failures;
};
void ns_mem_stats(struct ns_mem_stats *st);

/* ---- sockaddr.c: struct sockaddr <-> ip_addr_t + port ---- */
/* Reads a socket address for a socket of `family`; IPv4-mapped IPv6 addresses become IPv4.
 * Returns 0 or -EINVAL / -EAFNOSUPPORT. */
long ns_addr_in(int family, const struct sockaddr *sa, unsigned len, ip_addr_t *ip, u16_t *port);
/* Writes an address as a socket of `family` shows it (IPv4 as IPv4-mapped for AF_INET6). */
unsigned ns_addr_out(int family, const ip_addr_t *ip, u16_t port, struct sockaddr_storage *ss);
/* Whether a socket may bind to `ip`: any, or an address of ours (all of 127/8 is). */
int ns_addr_bindable(const ip_addr_t *ip);

/* ---- inet.c: what TCP and UDP sockets share ---- */
struct nsock {
    struct file *file; /* NULL while an accepted connection waits for accept() */
    int family;        /* AF_INET or AF_INET6 */
    int type;          /* SOCK_STREAM or SOCK_DGRAM */
    int err;           /* pending error (positive errno) for SO_ERROR and the next call */
    unsigned reuseaddr : 1, keepalive : 1, nodelay : 1, broadcast : 1, v6only : 1, linger_on : 1;
    int linger_s;
    int rcvbuf, sndbuf; /* recorded for getsockopt: lwIP's buffers are sized at build time */
    int tos, ttl;
    int keepidle_s, keepintvl_s, keepcnt;
    uint64_t rcvtimeo_ns, sndtimeo_ns;
};
/* Fills the defaults (as Linux's) of a new socket. */
void nsock_init(struct nsock *s, int family, int type);
/* Reads and clears the pending error (positive errno, or 0). */
int nsock_take_err(struct nsock *s);
/* The peer a connect names, read for the socket's family: -ENETUNREACH for IPv4 on a v6-only
 * socket; the unspecified address becomes loopback, as on Linux.  0 or -errno. */
long nsock_peer_addr(const struct nsock *s, const struct sockaddr *sa, unsigned len, ip_addr_t *ip,
                     u16_t *port);
/* The socket options TCP and UDP handle alike; -ENOPROTOOPT for the protocol's own. */
long nsock_getopt(struct nsock *s, int id, void *val, unsigned *len);
long nsock_setopt(struct nsock *s, int id, const void *val, unsigned len);
/* How long a blocking call may wait (sock_ops.timeout). */
uint64_t nsock_timeout(struct file *f, int sending);
long nsock_stat(struct file *f, struct stat *st);
uint64_t nsock_wake(struct file *f);
/* Live socket objects, for the leak checks in tests. */
extern uint32_t nsock_count;

/* Registers AF_INET and AF_INET6 with svcos's socket layer. */
void inet_register(void);

/* ---- tcp_*.c / udp_*.c: the protocols ---- */
long tcp_sock_create(int family, struct file **out);
long udp_sock_create(int family, struct file **out);

#endif
