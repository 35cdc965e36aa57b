/* resolv.c: the files musl's resolver reads: /etc/resolv.conf from dns= or DHCP's servers, and a
 * default /etc/hosts for localhost. */
#include "ns.h"

#include "lwip/dns.h"
#include <stdio.h>
#include <string.h>

/* getaddrinfo stays musl's (search domains, timeouts, A and AAAA): it sends its queries over
 * the netstack's UDP sockets to these servers.  lwIP only stores the servers DHCP names. */

static void write_file(const char *path, const char *text, size_t len)
{
    struct vnode *n = vfs_create_path(path, S_IFREG | 0644);
    if (!n || !S_ISREG(n->mode) || vnode_truncate(n, 0) < 0 ||
        vnode_write(n, text, len, 0) != (long)len)
        klog("netstack: cannot write %s", path);
}

void resolv_set_servers(const uint32_t *dns, int n)
{
    for (u8_t i = 0; i < DNS_MAX_SERVERS; i++) {
        ip_addr_t a;
        ip_addr_set_ip4_u32_val(a, i < n ? dns[i] : 0);
        dns_setserver(i, i < n ? &a : NULL);
    }
}

void resolv_update(void)
{
    char text[256], addr[IPADDR_STRLEN_MAX];
    size_t len = (size_t)snprintf(text, sizeof text, "# written by svcos's netstack\n");
    int servers = 0;
    for (u8_t i = 0; i < DNS_MAX_SERVERS; i++) {
        const ip_addr_t *a = dns_getserver(i);
        if (ip_addr_isany(a))
            continue;
        len += (size_t)snprintf(text + len, sizeof text - len, "nameserver %s\n",
                                ipaddr_ntoa_r(a, addr, sizeof addr));
        servers++;
    }
    if (servers)
        write_file("/etc/resolv.conf", text, len);
}

void resolv_init(void)
{
    static const char hosts[] = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    struct vnode *n;
    if (vfs_walk(vnode_root(), "/etc/hosts", 1, &n) < 0)
        write_file("/etc/hosts", hosts, sizeof hosts - 1);
}
