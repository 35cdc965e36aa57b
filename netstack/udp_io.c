/* udp_io.c: a UDP socket's datagrams: the receive queue (up to SO_RCVBUF), sendmsg, recvmsg. */
#include "udp.h"

#include "lwip/netif.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* The largest payload one datagram carries (65535 minus the IP and UDP headers). */
#define UDP_MAX4 65507u
#define UDP_MAX6 65527u

void usock_on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port)
{
    (void)pcb;
    struct usock *u = arg;
    struct dgram *d = NULL;
    /* A full queue drops, as Linux's does. */
    if (u->rd_shut || u->queued + p->tot_len > (size_t)u->s.rcvbuf || !(d = kmalloc(sizeof *d))) {
        pbuf_free(p);
        return;
    }
    d->next = NULL;
    d->p = p;
    ip_addr_copy(d->from, *addr);
    d->port = port;
    if (u->tail)
        u->tail->next = d;
    else
        u->head = d;
    u->tail = d;
    u->queued += p->tot_len;
    ns_changed(u->s.file);
}

void usock_drop_first(struct usock *u)
{
    struct dgram *d = u->head;
    u->head = d->next;
    if (!u->head)
        u->tail = NULL;
    u->queued -= d->p->tot_len;
    pbuf_free(d->p);
    kfree(d);
}

long usock_recvmsg(struct file *f, struct msghdr *m, int flags)
{
    struct usock *u = f->priv;
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    int e = nsock_take_err(&u->s);
    if (e)
        return -e;
    if (!u->head)
        netstack_pump();
    struct dgram *d = u->head;
    if (!d)
        return u->rd_shut ? 0 : -EAGAIN;
    size_t total = d->p->tot_len, done = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen && done < total; i++) {
        size_t n = m->msg_iov[i].iov_len < total - done ? m->msg_iov[i].iov_len : total - done;
        pbuf_copy_partial(d->p, m->msg_iov[i].iov_base, (u16_t)n, (u16_t)done);
        done += n;
    }
    if (m->msg_name) {
        struct sockaddr_storage ss;
        unsigned alen = ns_addr_out(u->s.family, &d->from, d->port, &ss);
        sockaddr_out(m->msg_name, &m->msg_namelen, &ss, alen);
    } else {
        m->msg_namelen = 0;
    }
    m->msg_flags = done < total ? MSG_TRUNC : 0;
    if (!(flags & MSG_PEEK))
        usock_drop_first(u);
    return (long)((flags & MSG_TRUNC) ? total : done);
}

/* Linux refuses to send to a broadcast address without SO_BROADCAST. */
static int is_broadcast(const ip_addr_t *ip)
{
    if (!IP_IS_V4(ip))
        return 0;
    if (ip4_addr_get_u32(ip_2_ip4(ip)) == IPADDR_BROADCAST)
        return 1;
    struct netif *n;
    NETIF_FOREACH(n)
    {
        if (ip4_addr_isbroadcast(ip_2_ip4(ip), n))
            return 1;
    }
    return 0;
}

long usock_sendmsg(struct file *f, const struct msghdr *m, int flags)
{
    struct usock *u = f->priv;
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    int e = nsock_take_err(&u->s);
    if (e)
        return -e;
    if (u->wr_shut)
        return -EPIPE;
    ip_addr_t ip;
    u16_t port = 0;
    int to = m->msg_name && m->msg_namelen;
    if (to) {
        long r = ns_addr_in(u->s.family, m->msg_name, m->msg_namelen, &ip, &port);
        if (r < 0)
            return r;
        if (port == 0)
            return -EINVAL;
        if (u->s.family == AF_INET6 && u->s.v6only && IP_IS_V4(&ip))
            return -ENETUNREACH;
        if (ip_addr_isany(&ip))
            ip_addr_set_loopback(IP_IS_V6(&ip), &ip); /* "this host", as Linux */
    } else if (!u->connected) {
        return -EDESTADDRREQ;
    } else {
        ip_addr_copy(ip, u->pcb->remote_ip);
    }
    if (is_broadcast(&ip) && !u->s.broadcast)
        return -EACCES;
    size_t total = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++)
        total += m->msg_iov[i].iov_len;
    if (total > (IP_IS_V6(&ip) ? UDP_MAX6 : UDP_MAX4))
        return -EMSGSIZE;
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)total, PBUF_RAM);
    if (!p)
        return -ENOBUFS;
    size_t done = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++) {
        size_t n = m->msg_iov[i].iov_len;
        if (n)
            pbuf_take_at(p, m->msg_iov[i].iov_base, (u16_t)n, (u16_t)done);
        done += n;
    }
    u->pcb->tos = (u8_t)u->s.tos;
    u->pcb->ttl = (u8_t)u->s.ttl;
    if (u->s.broadcast)
        ip_set_option(u->pcb, SOF_BROADCAST);
    else
        ip_reset_option(u->pcb, SOF_BROADCAST);
    err_t err = to ? udp_sendto(u->pcb, p, &ip, port) : udp_send(u->pcb, p);
    pbuf_free(p);
    nic_flush_all();
    return err == ERR_OK ? (long)total : -ns_errno(err);
}

long usock_read(struct file *f, void *buf, size_t len)
{
    struct iovec v = {.iov_base = buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    return usock_recvmsg(f, &m, 0);
}

long usock_write(struct file *f, const void *buf, size_t len)
{
    struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
    return usock_sendmsg(f, &m, 0);
}
