/* sockaddr.c: Linux socket addresses (sockaddr_in, sockaddr_in6) to lwIP's ip_addr_t and back,
 * with IPv4-mapped IPv6 addresses for dual-stack sockets. */
#include "ns.h"

#include "lwip/netif.h"
#include <errno.h>
#include <string.h>

long ns_addr_in(int family, const struct sockaddr *sa, unsigned len, ip_addr_t *ip, u16_t *port)
{
    if (!sa || len < sizeof(sa_family_t))
        return -EINVAL;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        /* Linux: an IPv6 socket refuses IPv4 addresses (they must come mapped). */
        if (family != AF_INET)
            return -EAFNOSUPPORT;
        if (len < sizeof in)
            return -EINVAL;
        memcpy(&in, sa, sizeof in);
        ip_addr_set_ip4_u32_val(*ip, in.sin_addr.s_addr);
        *port = lwip_ntohs(in.sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        if (family != AF_INET6)
            return -EAFNOSUPPORT;
        if (len < sizeof in6)
            return -EINVAL;
        memcpy(&in6, sa, sizeof in6);
        ip6_addr_t a;
        memcpy(a.addr, &in6.sin6_addr, 16);
        if (ip6_addr_isipv4mappedipv6(&a))
            ip_addr_set_ip4_u32_val(*ip, a.addr[3]);
        else
            ip_addr_copy_from_ip6_packed(*ip, a);
        *port = lwip_ntohs(in6.sin6_port);
        return 0;
    }
    return -EAFNOSUPPORT;
}

unsigned ns_addr_out(int family, const ip_addr_t *ip, u16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = lwip_htons(port);
        in->sin_addr.s_addr = IP_IS_V4(ip) ? ip4_addr_get_u32(ip_2_ip4(ip)) : 0;
        return sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = lwip_htons(port);
    if (IP_IS_V6(ip)) {
        memcpy(&in6->sin6_addr, ip_2_ip6(ip)->addr, 16);
    } else if (!ip_addr_isany(ip)) {
        /* ::ffff:a.b.c.d */
        uint32_t w[4] = {0, 0, PP_HTONL(0xffffu), ip4_addr_get_u32(ip_2_ip4(ip))};
        memcpy(&in6->sin6_addr, w, 16);
    }
    return sizeof *in6;
}

int ns_addr_bindable(const ip_addr_t *ip)
{
    if (ip_addr_isany(ip))
        return 1;
    if (IP_IS_V4(ip) && ip4_addr_isloopback(ip_2_ip4(ip)))
        return 1;
    struct netif *n;
    NETIF_FOREACH(n)
    {
        if (IP_IS_V4(ip) && ip4_addr_cmp(ip_2_ip4(ip), netif_ip4_addr(n)))
            return 1;
        if (IP_IS_V6(ip) && netif_get_ip6_addr_match(n, ip_2_ip6(ip)) >= 0)
            return 1;
    }
    return 0;
}
