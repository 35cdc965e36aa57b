/* tcp_sock.c: TCP socket objects over lwIP's raw API: lifetime and close, lwIP's error and
 * sent callbacks, readiness for poll/epoll, socket options, ioctls. */
#include "tcp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>

struct tsock *tsock_new(int family)
{
    struct tsock *t = kzalloc(sizeof *t);
    if (t)
        nsock_init(&t->s, family, SOCK_STREAM);
    return t;
}

u8_t tsock_ip_type(const struct tsock *t)
{
    if (t->s.family == AF_INET)
        return IPADDR_TYPE_V4;
    return t->s.v6only ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
    (void)pcb, (void)len;
    struct tsock *t = arg;
    ns_changed(t->s.file);
    return ERR_OK;
}

/* lwIP has freed the pcb (reset, timeout, or the last ACK of a close we started). */
static void on_err(void *arg, err_t err)
{
    struct tsock *t = arg;
    int e = ns_tcp_errno(err, t->state == TS_CONNECTING);
    t->pcb = NULL;
    t->state = TS_CLOSED;
    if (e)
        t->s.err = e;
    ns_changed(t->s.file);
}

void tsock_apply_opts(struct tsock *t)
{
    struct tcp_pcb *pcb = t->pcb;
    if (!pcb)
        return;
    if (t->s.reuseaddr)
        ip_set_option(pcb, SOF_REUSEADDR);
    else
        ip_reset_option(pcb, SOF_REUSEADDR);
    pcb->tos = (u8_t)t->s.tos;
    pcb->ttl = (u8_t)t->s.ttl;
    if (t->state == TS_LISTEN)
        return; /* a listening pcb has only the IP-level fields */
    if (t->s.keepalive)
        ip_set_option(pcb, SOF_KEEPALIVE);
    else
        ip_reset_option(pcb, SOF_KEEPALIVE);
    pcb->keep_idle = (u32_t)t->s.keepidle_s * 1000u;
    pcb->keep_intvl = (u32_t)t->s.keepintvl_s * 1000u;
    pcb->keep_cnt = (u32_t)t->s.keepcnt;
    if (t->s.nodelay)
        tcp_nagle_disable(pcb);
    else
        tcp_nagle_enable(pcb);
}

void tsock_attach(struct tsock *t, struct tcp_pcb *pcb)
{
    t->pcb = pcb;
    tcp_arg(pcb, t);
    tcp_recv(pcb, tsock_on_recv);
    tcp_sent(pcb, on_sent);
    tcp_err(pcb, on_err);
    tsock_apply_opts(t);
}

void tsock_save_names(struct tsock *t)
{
    if (!t->pcb)
        return;
    ip_addr_copy(t->local_ip, t->pcb->local_ip);
    t->local_port = t->pcb->local_port;
    if (t->state != TS_LISTEN) {
        ip_addr_copy(t->remote_ip, t->pcb->remote_ip);
        t->remote_port = t->pcb->remote_port;
    }
}

static void detach(struct tcp_pcb *pcb, int listening)
{
    tcp_arg(pcb, NULL);
    if (listening) {
        tcp_accept(pcb, NULL);
        return;
    }
    /* Without our recv callback lwIP's own discards data and closes on the peer's FIN. */
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
}

void tsock_release_pcb(struct tsock *t)
{
    struct tcp_pcb *pcb = t->pcb;
    if (!pcb)
        return;
    t->pcb = NULL;
    detach(pcb, t->state == TS_LISTEN);
    /* tcp_close sends a reset itself when unread data is left, as Linux does. */
    if (tcp_close(pcb) != ERR_OK)
        tcp_abort(pcb);
}

static void abort_pcb(struct tsock *t)
{
    struct tcp_pcb *pcb = t->pcb;
    if (!pcb)
        return;
    t->pcb = NULL;
    detach(pcb, 0);
    tcp_abort(pcb);
}

void tsock_free_rx(struct tsock *t)
{
    while (t->rx_head) {
        struct pbuf *p = t->rx_head;
        t->rx_head = p->next;
        p->next = NULL;
        pbuf_free(p);
    }
    t->rx_tail = NULL;
    t->rx_off = t->rx_len = 0;
}

static void destroy(struct tsock *t)
{
    tsock_free_rx(t);
    nsock_count--;
    kfree(t);
}

static void t_release(struct file *f)
{
    struct tsock *t = f->priv;
    if (t->state == TS_LISTEN) {
        tsock_release_pcb(t);
        /* Connections nobody accepted are reset, as Linux does. */
        while (t->q_head) {
            struct tsock *c = t->q_head;
            t->q_head = c->q_next;
            abort_pcb(c);
            destroy(c);
        }
    } else if (t->s.linger_on && t->s.linger_s == 0) {
        abort_pcb(t); /* SO_LINGER {1, 0}: reset instead of a FIN */
    } else {
        tsock_release_pcb(t);
    }
    nic_flush_all(); /* the FIN or reset */
    destroy(t);
}

/* Writable once a quarter of the send buffer is free (Linux wakes writers at a third): fewer,
 * larger writes for programs that wait for POLLOUT.  snd_buf, not tcp_sndbuf(), which is
 * capped at 64 KiB for tcp_write's u16 length. */
#define WRITE_LOWAT (TCP_SND_BUF / 4)

static int writable(const struct tsock *t)
{
    return t->pcb && t->pcb->snd_buf >= WRITE_LOWAT && tcp_sndqueuelen(t->pcb) < TCP_SNDQUEUELOWAT;
}

/* The bits Linux's tcp_poll gives in the same situations. */
static unsigned t_poll(struct file *f)
{
    struct tsock *t = f->priv;
    unsigned r = t->s.err ? POLLERR : 0;
    switch (t->state) {
    case TS_LISTEN:
        return r | (t->q_head ? POLLIN : 0);
    case TS_NEW:
    case TS_BOUND:
        return r | POLLOUT | POLLHUP; /* never connected: writes fail at once */
    case TS_CONNECTING:
        return r;
    default:
        break;
    }
    int over = t->state == TS_CLOSED;
    if (t->rx_len || t->rx_eof || t->rd_shut || over)
        r |= POLLIN;
    if (t->rx_eof || t->rd_shut || over)
        r |= POLLRDHUP;
    if (over || (t->rx_eof && t->tx_shut))
        r |= POLLHUP;
    if (over || t->tx_shut || writable(t))
        r |= POLLOUT;
    return r;
}

static long t_getsockopt(struct file *f, int level, int opt, void *val, unsigned *len)
{
    struct tsock *t = f->priv;
    int id = ns_opt_lookup(level, opt, SOCK_STREAM, t->s.family);
    if (id < 0)
        return id;
    if (!val || !len)
        return -EFAULT;
    switch (id) {
    case NSO_ACCEPTCONN:
        ns_opt_put_int(val, len, t->state == TS_LISTEN);
        return 0;
    case NSO_TCP_NODELAY:
        ns_opt_put_int(val, len, t->s.nodelay);
        return 0;
    case NSO_TCP_KEEPIDLE:
        ns_opt_put_int(val, len, t->s.keepidle_s);
        return 0;
    case NSO_TCP_KEEPINTVL:
        ns_opt_put_int(val, len, t->s.keepintvl_s);
        return 0;
    case NSO_TCP_KEEPCNT:
        ns_opt_put_int(val, len, t->s.keepcnt);
        return 0;
    case NSO_TCP_MAXSEG:
        ns_opt_put_int(val, len, t->pcb && t->state != TS_LISTEN ? tcp_mss(t->pcb) : TCP_MSS);
        return 0;
    default:
        return nsock_getopt(&t->s, id, val, len);
    }
}

static long t_setsockopt(struct file *f, int level, int opt, const void *val, unsigned len)
{
    struct tsock *t = f->priv;
    int id = ns_opt_lookup(level, opt, SOCK_STREAM, t->s.family), v = 0;
    if (id < 0)
        return id;
    long r = 0;
    switch (id) {
    case NSO_TCP_NODELAY:
    case NSO_TCP_KEEPIDLE:
    case NSO_TCP_KEEPINTVL:
    case NSO_TCP_KEEPCNT:
    case NSO_IPV6_V6ONLY:
        r = ns_opt_get_int(val, len, &v);
        if (r < 0)
            return r;
        break;
    default:
        break;
    }
    switch (id) {
    case NSO_TCP_NODELAY:
        t->s.nodelay = !!v;
        break;
    case NSO_TCP_KEEPIDLE:
    case NSO_TCP_KEEPINTVL:
        if (v < 1 || v > 32767) /* Linux's MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL */
            return -EINVAL;
        *(id == NSO_TCP_KEEPIDLE ? &t->s.keepidle_s : &t->s.keepintvl_s) = v;
        break;
    case NSO_TCP_KEEPCNT:
        if (v < 1 || v > 127)
            return -EINVAL;
        t->s.keepcnt = v;
        break;
    case NSO_IPV6_V6ONLY:
        /* The pcb's address type follows it, so only before bind/connect (as Linux). */
        if (t->state != TS_NEW || !t->pcb)
            return -EINVAL;
        t->s.v6only = !!v;
        IP_SET_TYPE_VAL(t->pcb->local_ip, tsock_ip_type(t));
        IP_SET_TYPE_VAL(t->pcb->remote_ip, tsock_ip_type(t));
        break;
    default:
        r = nsock_setopt(&t->s, id, val, len);
        if (r < 0)
            return r;
        break;
    }
    tsock_apply_opts(t);
    return 0;
}

static long t_ioctl(struct file *f, unsigned long req, void *arg)
{
    struct tsock *t = f->priv;
    switch (req) {
    case FIONREAD: /* = SIOCINQ */
        if (t->state == TS_LISTEN)
            return -EINVAL;
        netstack_pump();
        *(int *)arg = (int)t->rx_len;
        return 0;
    case TIOCOUTQ: /* = SIOCOUTQ: sent but not yet acknowledged, plus not yet sent */
        if (t->state == TS_LISTEN)
            return -EINVAL;
        *(int *)arg = t->pcb ? (int)(TCP_SND_BUF - t->pcb->snd_buf) : 0;
        return 0;
    default:
        return -ENOTTY;
    }
}

static const struct sock_ops tcp_sock_ops = {
    .send = ts_send,
    .recv = ts_recv,
    .shutdown = ts_shutdown,
    .getsockopt = t_getsockopt,
    .setsockopt = t_setsockopt,
    .getsockname = ts_getsockname,
    .getpeername = ts_getpeername,
    .bind = ts_bind,
    .connect = ts_connect,
    .listen = ts_listen,
    .accept = ts_accept,
    .timeout = nsock_timeout,
};

const struct file_ops tcp_file_ops = {
    .kind = "tcp socket",
    .read = ts_read,
    .write = ts_write,
    .stat = nsock_stat,
    .ioctl = t_ioctl,
    .poll = t_poll,
    .wake_events = nsock_wake,
    .release = t_release,
    .sock = &tcp_sock_ops,
};

long tcp_sock_create(int family, struct file **out)
{
    struct tsock *t = tsock_new(family);
    if (!t)
        return -ENOMEM;
    struct tcp_pcb *pcb = tcp_new_ip_type(tsock_ip_type(t));
    struct file *f = pcb ? file_new(&tcp_file_ops, O_RDWR, t) : NULL;
    if (!f) {
        if (pcb)
            tcp_abort(pcb);
        destroy(t);
        return -ENOBUFS;
    }
    t->s.file = f;
    tsock_attach(t, pcb);
    *out = f;
    return 0;
}
