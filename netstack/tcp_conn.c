/* tcp_conn.c: TCP connection set-up and tear-down: bind, listen, accept (with a real backlog),
 * connect, shutdown, and the socket's names. */
#include "tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

/* A dual-stack socket bound to "::" listens on IPv4 too: lwIP's "any type" address. */
static const ip_addr_t *bind_addr(const struct tsock *t, const ip_addr_t *ip)
{
    if (t->s.family == AF_INET6 && !t->s.v6only && IP_IS_V6(ip) && ip_addr_isany(ip))
        return IP_ANY_TYPE;
    return ip;
}

long ts_bind(struct file *f, const struct sockaddr *sa, unsigned len)
{
    struct tsock *t = f->priv;
    ip_addr_t ip;
    u16_t port;
    long r = ns_addr_in(t->s.family, sa, len, &ip, &port);
    if (r < 0)
        return r;
    if (t->state != TS_NEW || !t->pcb)
        return -EINVAL;
    if (t->s.family == AF_INET6 && t->s.v6only && IP_IS_V4(&ip))
        return -EINVAL;
    if (!ns_addr_bindable(&ip))
        return -EADDRNOTAVAIL;
    tsock_apply_opts(t); /* SO_REUSEADDR decides what bind may share */
    err_t err = tcp_bind(t->pcb, bind_addr(t, &ip), port);
    if (err != ERR_OK)
        return -ns_errno(err);
    t->state = TS_BOUND;
    tsock_save_names(t);
    return 0;
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
    struct tsock *l = arg;
    if (err != ERR_OK || !newpcb)
        return ERR_VAL;
    struct tsock *c = tsock_new(l->s.family);
    if (!c) {
        tcp_abort(newpcb);
        return ERR_ABRT;
    }
    /* Accepted sockets inherit the listener's options, as on Linux. */
    struct nsock opts = l->s;
    opts.file = NULL;
    opts.err = 0;
    c->s = opts;
    c->state = TS_CONNECTED;
    c->was_connected = 1;
    tsock_attach(c, newpcb);
    tsock_save_names(c);
    /* Until accept() takes it the connection counts against the listener's backlog. */
    tcp_backlog_delayed(newpcb);
    if (l->q_tail)
        l->q_tail->q_next = c;
    else
        l->q_head = c;
    l->q_tail = c;
    ns_changed(l->s.file);
    return ERR_OK;
}

long ts_listen(struct file *f, int backlog)
{
    struct tsock *t = f->priv;
    /* Linux admits backlog + 1 connections (at most 4096); lwIP's count is a u8. */
    int b = backlog < 0 ? 1 : backlog >= 254 ? 255 : backlog + 1;
    if (t->state == TS_LISTEN) {
        tcp_backlog_set(t->pcb, (u8_t)b);
        return 0;
    }
    if ((t->state != TS_NEW && t->state != TS_BOUND) || !t->pcb)
        return -EINVAL;
    if (t->state == TS_NEW) { /* Linux binds an unbound listener to an ephemeral port */
        ip_addr_t any;
        ip_addr_set_zero(&any);
        IP_SET_TYPE_VAL(any, t->s.family == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
        err_t e = tcp_bind(t->pcb, bind_addr(t, &any), 0);
        if (e != ERR_OK)
            return -ns_errno(e);
    }
    err_t err = ERR_OK;
    struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(t->pcb, (u8_t)b, &err);
    if (!lpcb) /* the original pcb is still ours */
        return -ns_errno(err);
    t->pcb = lpcb; /* lwIP freed the original */
    t->state = TS_LISTEN;
    tcp_arg(lpcb, t);
    tcp_accept(lpcb, on_accept);
    tsock_apply_opts(t);
    tsock_save_names(t);
    return 0;
}

long ts_accept(struct file *f, struct file **out, struct sockaddr *sa, unsigned *len)
{
    struct tsock *t = f->priv;
    if (t->state != TS_LISTEN)
        return -EINVAL;
    if (!t->q_head)
        netstack_pump();
    struct tsock *c = t->q_head;
    if (!c)
        return -EAGAIN;
    struct file *nf = file_new(&tcp_file_ops, O_RDWR, c);
    if (!nf)
        return -ENOMEM; /* it stays queued for the next try */
    t->q_head = c->q_next;
    if (!t->q_head)
        t->q_tail = NULL;
    c->q_next = NULL;
    c->s.file = nf;
    if (c->pcb)
        tcp_backlog_accepted(c->pcb);
    if (sa && len) {
        struct sockaddr_storage ss;
        sockaddr_out(sa, len, &ss, ns_addr_out(c->s.family, &c->remote_ip, c->remote_port, &ss));
    }
    *out = nf;
    return 0;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    (void)pcb, (void)err; /* lwIP calls this only on success */
    struct tsock *t = arg;
    t->state = TS_CONNECTED;
    t->was_connected = 1;
    tsock_save_names(t);
    ns_changed(t->s.file);
    return ERR_OK;
}

/* After a failed connect Linux lets the socket try again: that needs a new pcb. */
static long renew_pcb(struct tsock *t)
{
    struct tcp_pcb *pcb = tcp_new_ip_type(tsock_ip_type(t));
    if (!pcb)
        return -ENOBUFS;
    tsock_free_rx(t);
    t->rx_eof = t->rd_shut = t->tx_shut = 0;
    t->state = TS_NEW;
    tsock_attach(t, pcb);
    return 0;
}

long ts_connect(struct file *f, const struct sockaddr *sa, unsigned len)
{
    struct tsock *t = f->priv;
    switch (t->state) {
    case TS_LISTEN:
        return -EINVAL;
    case TS_CONNECTING:
        return -EALREADY;
    case TS_CONNECTED:
        return -EISCONN;
    case TS_CLOSED:
        if (t->was_connected)
            return -EISCONN;
        break;
    default:
        break;
    }
    ip_addr_t ip;
    u16_t port;
    long r = nsock_peer_addr(&t->s, sa, len, &ip, &port);
    if (r < 0)
        return r;
    if (port == 0)
        return -ECONNREFUSED;
    if (t->state == TS_CLOSED && (r = renew_pcb(t)) < 0)
        return r;
    t->s.err = 0;
    tsock_apply_opts(t);
    err_t err = tcp_connect(t->pcb, &ip, port, on_connected);
    nic_flush_all();
    if (err != ERR_OK)
        return -ns_errno(err);
    t->state = TS_CONNECTING;
    return -EINPROGRESS; /* socket.c waits for blocking sockets */
}

long ts_shutdown(struct file *f, int how)
{
    struct tsock *t = f->priv;
    if (how < SHUT_RD || how > SHUT_RDWR)
        return -EINVAL;
    if (t->state != TS_CONNECTED && t->state != TS_CLOSED)
        return -ENOTCONN;
    /* Linux marks a closed socket shut too (so pollers see it) but still says ENOTCONN. */
    int closed = t->state == TS_CLOSED;
    if (how != SHUT_WR && !t->rd_shut) {
        t->rd_shut = 1;
        /* What is queued is dropped; the window opens for it so the peer is not stalled. */
        size_t n = t->rx_len;
        tsock_free_rx(t);
        for (; t->pcb && n; n -= n > 0xffff ? 0xffff : n)
            tcp_recved(t->pcb, (u16_t)(n > 0xffff ? 0xffff : n));
    }
    if (how != SHUT_RD && !t->tx_shut) {
        t->tx_shut = 1;
        if (t->pcb) {
            err_t err = tcp_shutdown(t->pcb, 0, 1);
            if (err != ERR_OK)
                return -ns_errno(err);
            if (t->rx_eof) { /* both directions done: lwIP finishes alone */
                tsock_release_pcb(t);
                t->state = TS_CLOSED;
            }
        }
    }
    nic_flush_all();
    ns_changed(f);
    return closed ? -ENOTCONN : 0;
}

long ts_getsockname(struct file *f, struct sockaddr *sa, unsigned *len)
{
    struct tsock *t = f->priv;
    /* The local address can change at connect time (an ephemeral port, the route's address). */
    if (t->pcb) {
        ip_addr_copy(t->local_ip, t->pcb->local_ip);
        t->local_port = t->pcb->local_port;
    }
    struct sockaddr_storage ss;
    sockaddr_out(sa, len, &ss, ns_addr_out(t->s.family, &t->local_ip, t->local_port, &ss));
    return 0;
}

long ts_getpeername(struct file *f, struct sockaddr *sa, unsigned *len)
{
    struct tsock *t = f->priv;
    if (t->state != TS_CONNECTED)
        return -ENOTCONN;
    struct sockaddr_storage ss;
    sockaddr_out(sa, len, &ss, ns_addr_out(t->s.family, &t->remote_ip, t->remote_port, &ss));
    return 0;
}
