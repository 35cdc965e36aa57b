/* udp_sock.c: UDP sockets over lwIP's raw API: creation, bind/connect/names, options, readiness. */
#include "udp.h"

#include "lwip/netif.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static u8_t ip_type(const struct usock *u)
{
    if (u->s.family == AF_INET)
        return IPADDR_TYPE_V4;
    return u->s.v6only ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY;
}

static const ip_addr_t *bind_addr(const struct usock *u, const ip_addr_t *ip)
{
    if (u->s.family == AF_INET6 && !u->s.v6only && IP_IS_V6(ip) && ip_addr_isany(ip))
        return IP_ANY_TYPE;
    return ip;
}

static long u_bind(struct file *f, const struct sockaddr *sa, unsigned len)
{
    struct usock *u = f->priv;
    ip_addr_t ip;
    u16_t port;
    long r = ns_addr_in(u->s.family, sa, len, &ip, &port);
    if (r < 0)
        return r;
    if (u->pcb->local_port)
        return -EINVAL; /* already bound (explicitly or by a send) */
    if (u->s.family == AF_INET6 && u->s.v6only && IP_IS_V4(&ip))
        return -EINVAL;
    if (!ns_addr_bindable(&ip))
        return -EADDRNOTAVAIL;
    if (u->s.reuseaddr)
        ip_set_option(u->pcb, SOF_REUSEADDR);
    err_t err = udp_bind(u->pcb, bind_addr(u, &ip), port);
    return err == ERR_OK ? 0 : -ns_errno(err);
}

static long u_connect(struct file *f, const struct sockaddr *sa, unsigned len)
{
    struct usock *u = f->priv;
    if (sa && len >= sizeof(sa_family_t) && sa->sa_family == AF_UNSPEC) {
        udp_disconnect(u->pcb);
        u->connected = 0;
        return 0;
    }
    ip_addr_t ip;
    u16_t port;
    long r = nsock_peer_addr(&u->s, sa, len, &ip, &port);
    if (r < 0)
        return r;
    /* Linux checks the route at connect time (getaddrinfo's AI_ADDRCONFIG relies on it) and
     * getsockname then shows the source address it implies. */
    struct netif *out = ip_route(IP_IS_V6(&ip) ? IP6_ADDR_ANY : IP4_ADDR_ANY, &ip);
    const ip_addr_t *src = out ? ip_netif_get_local_ip(out, &ip) : NULL;
    if (!src)
        return -ENETUNREACH;
    err_t err = udp_connect(u->pcb, &ip, port);
    if (err != ERR_OK)
        return -ns_errno(err);
    ip_addr_copy(u->src, *src);
    u->connected = 1;
    return 0;
}

static long u_shutdown(struct file *f, int how)
{
    struct usock *u = f->priv;
    if (how < SHUT_RD || how > SHUT_RDWR)
        return -EINVAL;
    if (how != SHUT_WR)
        u->rd_shut = 1;
    if (how != SHUT_RD)
        u->wr_shut = 1;
    ns_changed(f);
    return u->connected ? 0 : -ENOTCONN; /* Linux applies it anyway */
}

static long u_name(struct file *f, struct sockaddr *sa, unsigned *len, int peer)
{
    struct usock *u = f->priv;
    if (peer && !u->connected)
        return -ENOTCONN;
    struct sockaddr_storage ss;
    const ip_addr_t *local =
        u->connected && ip_addr_isany(&u->pcb->local_ip) ? &u->src : &u->pcb->local_ip;
    unsigned alen = peer ? ns_addr_out(u->s.family, &u->pcb->remote_ip, u->pcb->remote_port, &ss)
                         : ns_addr_out(u->s.family, local, u->pcb->local_port, &ss);
    sockaddr_out(sa, len, &ss, alen);
    return 0;
}

static long u_getsockname(struct file *f, struct sockaddr *sa, unsigned *len)
{
    return u_name(f, sa, len, 0);
}

static long u_getpeername(struct file *f, struct sockaddr *sa, unsigned *len)
{
    return u_name(f, sa, len, 1);
}

static long u_getsockopt(struct file *f, int level, int opt, void *val, unsigned *len)
{
    struct usock *u = f->priv;
    int id = ns_opt_lookup(level, opt, SOCK_DGRAM, u->s.family);
    if (id < 0)
        return id;
    if (!val || !len)
        return -EFAULT;
    if (id == NSO_ACCEPTCONN) {
        ns_opt_put_int(val, len, 0);
        return 0;
    }
    return nsock_getopt(&u->s, id, val, len);
}

static long u_setsockopt(struct file *f, int level, int opt, const void *val, unsigned len)
{
    struct usock *u = f->priv;
    int id = ns_opt_lookup(level, opt, SOCK_DGRAM, u->s.family);
    if (id < 0)
        return id;
    if (id == NSO_IPV6_V6ONLY) {
        int v;
        long r = ns_opt_get_int(val, len, &v);
        if (r < 0)
            return r;
        if (u->pcb->local_port || u->connected)
            return -EINVAL;
        u->s.v6only = !!v;
        IP_SET_TYPE_VAL(u->pcb->local_ip, ip_type(u));
        IP_SET_TYPE_VAL(u->pcb->remote_ip, ip_type(u));
        return 0;
    }
    /* SO_RCVBUF bounds the queue, as Linux's (doubled) value bounds its own. */
    return nsock_setopt(&u->s, id, val, len);
}

static unsigned u_poll(struct file *f)
{
    struct usock *u = f->priv;
    unsigned r = POLLOUT; /* lwIP sends at once: there is no send queue to fill */
    if (u->s.err)
        r |= POLLERR;
    if (u->head || u->rd_shut)
        r |= POLLIN;
    if (u->rd_shut)
        r |= POLLRDHUP;
    if (u->rd_shut && u->wr_shut)
        r |= POLLHUP;
    return r;
}

static long u_ioctl(struct file *f, unsigned long req, void *arg)
{
    struct usock *u = f->priv;
    switch (req) {
    case FIONREAD: /* Linux: the size of the next datagram */
        netstack_pump();
        *(int *)arg = u->head ? (int)u->head->p->tot_len : 0;
        return 0;
    case TIOCOUTQ:
        *(int *)arg = 0;
        return 0;
    default:
        return -ENOTTY;
    }
}

static void u_release(struct file *f)
{
    struct usock *u = f->priv;
    udp_remove(u->pcb);
    while (u->head)
        usock_drop_first(u);
    nsock_count--;
    kfree(u);
}

static const struct sock_ops udp_sock_ops = {
    .shutdown = u_shutdown,
    .getsockopt = u_getsockopt,
    .setsockopt = u_setsockopt,
    .getsockname = u_getsockname,
    .getpeername = u_getpeername,
    .bind = u_bind,
    .connect = u_connect,
    .sendmsg = usock_sendmsg,
    .recvmsg = usock_recvmsg,
    .timeout = nsock_timeout,
};

static const struct file_ops udp_file_ops = {
    .kind = "udp socket",
    .read = usock_read,
    .write = usock_write,
    .stat = nsock_stat,
    .ioctl = u_ioctl,
    .poll = u_poll,
    .wake_events = nsock_wake,
    .release = u_release,
    .sock = &udp_sock_ops,
};

long udp_sock_create(int family, struct file **out)
{
    struct usock *u = kzalloc(sizeof *u);
    if (!u)
        return -ENOMEM;
    nsock_init(&u->s, family, SOCK_DGRAM);
    u->s.rcvbuf = 212992; /* Linux's default rmem */
    u->pcb = udp_new_ip_type(ip_type(u));
    struct file *f = u->pcb ? file_new(&udp_file_ops, O_RDWR, u) : NULL;
    if (!f) {
        if (u->pcb)
            udp_remove(u->pcb);
        nsock_count--;
        kfree(u);
        return -ENOBUFS;
    }
    u->s.file = f;
    udp_recv(u->pcb, usock_on_recv, u);
    *out = f;
    return 0;
}
