/* tcp.h: the TCP socket object shared by tcp_sock.c (lifetime, lwIP callbacks, readiness,
 * options), tcp_io.c (data) and tcp_conn.c (connection set-up and names). */
#ifndef NETSTACK_TCP_H
#define NETSTACK_TCP_H

#include "ns.h"

#include "lwip/tcp.h"

enum tstate {
    TS_NEW,        /* no address yet */
    TS_BOUND,      /* bind() done */
    TS_LISTEN,     /* pcb is a listening pcb */
    TS_CONNECTING, /* SYN sent */
    TS_CONNECTED,  /* established (possibly half-closed) */
    TS_CLOSED,     /* the connection is over: reset, timed out, or closed both ways */
};

struct tsock {
    struct nsock s; /* first: f->priv is also a struct nsock */
    /* NULL once lwIP freed it (error callback) or we handed it back to lwIP (closed both
     * ways): lwIP may free a TIME_WAIT pcb without telling its owner, so none is kept. */
    struct tcp_pcb *pcb;
    enum tstate state;
    /* Received data the program has not read: pbufs linked through ->next, the first
     * rx_off bytes into.  The window opens (tcp_recved) only as the program reads. */
    struct pbuf *rx_head, *rx_tail;
    size_t rx_off, rx_len;
    unsigned rx_eof : 1, rd_shut : 1, tx_shut : 1, was_connected : 1;
    /* Addresses, kept for getsockname/getpeername after the pcb is gone. */
    ip_addr_t local_ip, remote_ip;
    u16_t local_port, remote_port;
    /* Listening sockets: connections lwIP accepted that accept() has not taken yet. */
    struct tsock *q_head, *q_tail, *q_next;
};

extern const struct file_ops tcp_file_ops;

/* tcp_sock.c */
struct tsock *tsock_new(int family);
void tsock_attach(struct tsock *t, struct tcp_pcb *pcb); /* callbacks + options onto pcb */
/* Hands the pcb back to lwIP (graceful close; a reset if that fails). */
void tsock_release_pcb(struct tsock *t);
void tsock_apply_opts(struct tsock *t);
void tsock_save_names(struct tsock *t);
void tsock_free_rx(struct tsock *t);
/* The pcb type a new socket of this family (and IPV6_V6ONLY setting) gets. */
u8_t tsock_ip_type(const struct tsock *t);

/* tcp_io.c */
long ts_send(struct file *f, const void *buf, size_t len, int flags);
long ts_recv(struct file *f, void *buf, size_t len, int flags);
long ts_read(struct file *f, void *buf, size_t len);
long ts_write(struct file *f, const void *buf, size_t len);
err_t tsock_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);

/* tcp_conn.c */
long ts_bind(struct file *f, const struct sockaddr *sa, unsigned len);
long ts_listen(struct file *f, int backlog);
long ts_accept(struct file *f, struct file **out, struct sockaddr *sa, unsigned *len);
long ts_connect(struct file *f, const struct sockaddr *sa, unsigned len);
long ts_shutdown(struct file *f, int how);
long ts_getsockname(struct file *f, struct sockaddr *sa, unsigned *len);
long ts_getpeername(struct file *f, struct sockaddr *sa, unsigned *len);

#endif
