/* sockopt.c: the Linux socket options the netstack implements, by (level, name), and their
 * value formats; everything else is ENOPROTOOPT. */
#include "xlate.h"
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#define STREAM 1
#define DGRAM  2
#define V4     4
#define V6     8
#define RO     16

/* Linux's numbers for the timeouts with a 64-bit time_t (x86-64 uses the old numbers for the
 * same layout). */
#define LINUX_SO_RCVTIMEO_NEW 66
#define LINUX_SO_SNDTIMEO_NEW 67

static const struct {
    int level, opt, id, where;
} table[] = {
    {SOL_SOCKET, SO_ERROR, NSO_ERROR, STREAM | DGRAM | V4 | V6 | RO},
    {SOL_SOCKET, SO_TYPE, NSO_TYPE, STREAM | DGRAM | V4 | V6 | RO},
    {SOL_SOCKET, SO_DOMAIN, NSO_DOMAIN, STREAM | DGRAM | V4 | V6 | RO},
    {SOL_SOCKET, SO_PROTOCOL, NSO_PROTOCOL, STREAM | DGRAM | V4 | V6 | RO},
    {SOL_SOCKET, SO_ACCEPTCONN, NSO_ACCEPTCONN, STREAM | DGRAM | V4 | V6 | RO},
    {SOL_SOCKET, SO_REUSEADDR, NSO_REUSEADDR, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_KEEPALIVE, NSO_KEEPALIVE, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_BROADCAST, NSO_BROADCAST, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_LINGER, NSO_LINGER, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_RCVBUF, NSO_RCVBUF, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_SNDBUF, NSO_SNDBUF, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_RCVTIMEO, NSO_RCVTIMEO, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, SO_SNDTIMEO, NSO_SNDTIMEO, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, LINUX_SO_RCVTIMEO_NEW, NSO_RCVTIMEO, STREAM | DGRAM | V4 | V6},
    {SOL_SOCKET, LINUX_SO_SNDTIMEO_NEW, NSO_SNDTIMEO, STREAM | DGRAM | V4 | V6},
    {IPPROTO_TCP, TCP_NODELAY, NSO_TCP_NODELAY, STREAM | V4 | V6},
    {IPPROTO_TCP, TCP_MAXSEG, NSO_TCP_MAXSEG, STREAM | V4 | V6},
    {IPPROTO_TCP, TCP_KEEPIDLE, NSO_TCP_KEEPIDLE, STREAM | V4 | V6},
    {IPPROTO_TCP, TCP_KEEPINTVL, NSO_TCP_KEEPINTVL, STREAM | V4 | V6},
    {IPPROTO_TCP, TCP_KEEPCNT, NSO_TCP_KEEPCNT, STREAM | V4 | V6},
    /* Linux lets dual-stack IPv6 sockets set the IPv4 header fields too. */
    {IPPROTO_IP, IP_TOS, NSO_IP_TOS, STREAM | DGRAM | V4 | V6},
    {IPPROTO_IP, IP_TTL, NSO_IP_TTL, STREAM | DGRAM | V4 | V6},
    {IPPROTO_IPV6, IPV6_V6ONLY, NSO_IPV6_V6ONLY, STREAM | DGRAM | V6},
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, NSO_IPV6_UNICAST_HOPS, STREAM | DGRAM | V6},
};

int ns_opt_lookup(int level, int opt, int type, int family)
{
    int need = (type == SOCK_STREAM ? STREAM : DGRAM) | (family == AF_INET6 ? V6 : V4);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].level == level && table[i].opt == opt && (table[i].where & need) == need)
            return table[i].id;
    return -ENOPROTOOPT;
}

int ns_opt_readonly(int id)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].id == id)
            return !!(table[i].where & RO);
    return 1;
}

long ns_opt_get_int(const void *val, unsigned len, int *out)
{
    if (!val || len < sizeof(int))
        return -EINVAL;
    memcpy(out, val, sizeof(int));
    return 0;
}

void ns_opt_put_int(void *val, unsigned *len, int v)
{
    unsigned n = *len < sizeof v ? *len : (unsigned)sizeof v;
    memcpy(val, &v, n);
    *len = n;
}

long ns_opt_get_timeval(const void *val, unsigned len, uint64_t *ns)
{
    struct timeval tv;
    if (!val || len < sizeof tv)
        return -EINVAL;
    memcpy(&tv, val, sizeof tv);
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000)
        return -EDOM;
    /* Linux: a negative time is "do not wait" (0 would mean forever), {0, 0} is forever. */
    if (tv.tv_sec < 0)
        *ns = 1;
    else if ((uint64_t)tv.tv_sec > UINT64_MAX / 2000000000ull)
        *ns = 0;
    else
        *ns = (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
    return 0;
}

void ns_opt_put_timeval(void *val, unsigned *len, uint64_t ns)
{
    struct timeval tv = {.tv_sec = (time_t)(ns / 1000000000ull),
                         .tv_usec = (suseconds_t)(ns % 1000000000ull / 1000)};
    unsigned n = *len < sizeof tv ? *len : (unsigned)sizeof tv;
    memcpy(val, &tv, n);
    *len = n;
}
