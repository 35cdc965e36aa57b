/* inet.c: socket(AF_INET/AF_INET6, ...) and what TCP and UDP sockets share: defaults, the
 * peer a connect names, the SOL_SOCKET and IP-level options, timeouts, fstat. */
#include "ns.h"

#include "lwip/tcp.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

uint32_t nsock_count;

/* Linux's defaults for what the netstack records but cannot change at run time. */
#define LINUX_RMEM_MAX (212992 * 2)

void nsock_init(struct nsock *s, int family, int type)
{
    memset(s, 0, sizeof *s);
    s->family = family;
    s->type = type;
    s->rcvbuf = type == SOCK_STREAM ? TCP_WND : 212992;
    s->sndbuf = type == SOCK_STREAM ? TCP_SND_BUF : 212992;
    s->ttl = 64; /* Linux's, not lwIP's 255 */
    s->keepidle_s = 7200;
    s->keepintvl_s = 75;
    s->keepcnt = 9;
    nsock_count++;
}

int nsock_take_err(struct nsock *s)
{
    int e = s->err;
    s->err = 0;
    return e;
}

long nsock_peer_addr(const struct nsock *s, const struct sockaddr *sa, unsigned len, ip_addr_t *ip,
                     u16_t *port)
{
    long r = ns_addr_in(s->family, sa, len, ip, port);
    if (r < 0)
        return r;
    if (s->family == AF_INET6 && s->v6only && IP_IS_V4(ip))
        return -ENETUNREACH;
    if (ip_addr_isany(ip)) /* Linux: the unspecified address means this host */
        ip_addr_set_loopback(IP_IS_V6(ip), ip);
    return 0;
}

static long put_bool(void *val, unsigned *len, int v)
{
    ns_opt_put_int(val, len, !!v);
    return 0;
}

long nsock_getopt(struct nsock *s, int id, void *val, unsigned *len)
{
    switch (id) {
    case NSO_ERROR:
        ns_opt_put_int(val, len, nsock_take_err(s));
        return 0;
    case NSO_TYPE:
        ns_opt_put_int(val, len, s->type);
        return 0;
    case NSO_DOMAIN:
        ns_opt_put_int(val, len, s->family);
        return 0;
    case NSO_PROTOCOL:
        ns_opt_put_int(val, len, s->type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP);
        return 0;
    case NSO_REUSEADDR:
        return put_bool(val, len, s->reuseaddr);
    case NSO_KEEPALIVE:
        return put_bool(val, len, s->keepalive);
    case NSO_BROADCAST:
        return put_bool(val, len, s->broadcast);
    case NSO_LINGER: {
        struct linger l = {.l_onoff = s->linger_on, .l_linger = s->linger_s};
        unsigned n = *len < sizeof l ? *len : (unsigned)sizeof l;
        memcpy(val, &l, n);
        *len = n;
        return 0;
    }
    case NSO_RCVBUF:
        ns_opt_put_int(val, len, s->rcvbuf);
        return 0;
    case NSO_SNDBUF:
        ns_opt_put_int(val, len, s->sndbuf);
        return 0;
    case NSO_RCVTIMEO:
        ns_opt_put_timeval(val, len, s->rcvtimeo_ns);
        return 0;
    case NSO_SNDTIMEO:
        ns_opt_put_timeval(val, len, s->sndtimeo_ns);
        return 0;
    case NSO_IP_TOS:
        ns_opt_put_int(val, len, s->tos);
        return 0;
    case NSO_IP_TTL:
    case NSO_IPV6_UNICAST_HOPS:
        ns_opt_put_int(val, len, s->ttl);
        return 0;
    case NSO_IPV6_V6ONLY:
        return put_bool(val, len, s->v6only);
    default:
        return -ENOPROTOOPT;
    }
}

long nsock_setopt(struct nsock *s, int id, const void *val, unsigned len)
{
    if (ns_opt_readonly(id))
        return -ENOPROTOOPT;
    if (id == NSO_LINGER) {
        struct linger l;
        if (!val || len < sizeof l)
            return -EINVAL;
        memcpy(&l, val, sizeof l);
        s->linger_on = !!l.l_onoff;
        s->linger_s = l.l_linger < 0 ? 0 : l.l_linger;
        return 0;
    }
    if (id == NSO_RCVTIMEO || id == NSO_SNDTIMEO)
        return ns_opt_get_timeval(val, len, id == NSO_RCVTIMEO ? &s->rcvtimeo_ns : &s->sndtimeo_ns);
    int v;
    long r = ns_opt_get_int(val, len, &v);
    if (r < 0)
        return r;
    switch (id) {
    case NSO_REUSEADDR:
        s->reuseaddr = !!v;
        return 0;
    case NSO_KEEPALIVE:
        s->keepalive = !!v;
        return 0;
    case NSO_BROADCAST:
        s->broadcast = !!v;
        return 0;
    case NSO_RCVBUF:
    case NSO_SNDBUF: {
        /* Linux doubles the request for its bookkeeping and reports that. */
        long b = v < 1024 ? 2048 : v > LINUX_RMEM_MAX / 2 ? LINUX_RMEM_MAX : 2l * v;
        *(id == NSO_RCVBUF ? &s->rcvbuf : &s->sndbuf) = (int)b;
        return 0;
    }
    case NSO_IP_TOS:
        s->tos = v & 0xfc; /* the ECN bits are the stack's */
        return 0;
    case NSO_IP_TTL:
    case NSO_IPV6_UNICAST_HOPS:
        if (v == -1)
            v = 64;
        if (v < 1 || v > 255)
            return -EINVAL;
        s->ttl = v;
        return 0;
    default:
        return -ENOPROTOOPT;
    }
}

uint64_t nsock_timeout(struct file *f, int sending)
{
    struct nsock *s = f->priv;
    return sending ? s->sndtimeo_ns : s->rcvtimeo_ns;
}

long nsock_stat(struct file *f, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFSOCK | 0777;
    st->st_nlink = 1;
    st->st_blksize = 4096;
    st->st_ino = (ino_t)(uintptr_t)f;
    return 0;
}

uint64_t nsock_wake(struct file *f)
{
    (void)f;
    return WAKE_LOOP; /* the network, through the event loop's source */
}

static long create(int family, int type, int proto, struct file **out)
{
    switch (type) {
    case SOCK_STREAM:
        if (proto && proto != IPPROTO_TCP)
            return -EPROTONOSUPPORT;
        return tcp_sock_create(family, out);
    case SOCK_DGRAM:
        if (proto && proto != IPPROTO_UDP)
            return -EPROTONOSUPPORT;
        return udp_sock_create(family, out);
    case SOCK_RAW:
        return -EPROTONOSUPPORT; /* no raw sockets (ping, packet capture) */
    default:
        return -ESOCKTNOSUPPORT;
    }
}

static long create4(int type, int proto, struct file **out)
{
    return create(AF_INET, type, proto, out);
}

static long create6(int type, int proto, struct file **out)
{
    return create(AF_INET6, type, proto, out);
}

void inet_register(void)
{
    socket_register_family(AF_INET, create4);
    socket_register_family(AF_INET6, create6);
}
