/* st_nic.c: the netstack's driver interface with pretend Ethernets (st_fakenet.c): static
 * configuration, ARP both ways, ping, UDP both ways, a refused TCP connect, a peer that vanishes
 * (keepalive), getaddrinfo through /etc/resolv.conf to the peer's DNS server; then a second
 * interface configured by DHCP. */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_fakenet.h"
#include "st_net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <netstack.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#pragma weak netstack_add_nic
#pragma weak netstack_nic_ipv4

static const struct netstack_nic_ops fake_ops = {.transmit = fake_transmit, .poll = fake_poll};

#define OUR_IP  0x0a000901u /* 10.0.9.1/24, static */
#define PEER_IP 0x0a000902u
static struct fakenet net = {.our_mac = {2, 0, 0, 0, 9, 1},
                             .peer_mac = {2, 0, 0, 0, 9, 2},
                             .our_ip = OUR_IP,
                             .peer_ip = PEER_IP};
/* The second segment's peer is a DHCP server offering 10.0.10.7/24. */
static struct fakenet dnet = {.our_mac = {2, 0, 0, 0, 10, 1},
                              .peer_mac = {2, 0, 0, 0, 10, 2},
                              .peer_ip = 0x0a000a02u,
                              .offer_ip = 0x0a000a07u};

/* Lets the event loop run (the NIC is polled there) for about `ms`. */
static void run_loop(int ms)
{
    poll(NULL, 0, ms);
}

static int wait_seen(const unsigned *counter, unsigned want)
{
    for (int i = 0; i < 100 && *counter < want; i++)
        run_loop(2);
    return *counter >= want;
}

static int udp_both_ways(char *why)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)}, from;
    socklen_t fl = sizeof from;
    char buf[64];
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0)
        return fail(why, "UDP bind: %s", strerror(errno));
    fake_send_udp(&net, 9999, 7777, "from the wire", 13);
    struct pollfd pf = {.fd = s, .events = POLLIN};
    if (poll(&pf, 1, 1000) != 1 ||
        recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) != 13 ||
        memcmp(buf, "from the wire", 13) || from.sin_addr.s_addr != htonl(PEER_IP) ||
        from.sin_port != htons(9999))
        r = fail(why, "a datagram from the NIC did not arrive as sent");
    struct sockaddr_in echo = {.sin_family = AF_INET, .sin_port = htons(FAKE_ECHO_PORT)};
    echo.sin_addr.s_addr = htonl(PEER_IP);
    if (!r && (sendto(s, "round trip", 10, 0, (struct sockaddr *)&echo, sizeof echo) != 10 ||
               poll(&pf, 1, 1000) != 1 || recv(s, buf, sizeof buf, 0) != 10 ||
               memcmp(buf, "round trip", 10)))
        r = fail(why, "UDP echo through the NIC: %s", strerror(errno));
    close(s);
    return r;
}

static int tcp_refused(char *why)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(FAKE_CLOSED_PORT)};
    a.sin_addr.s_addr = htonl(PEER_IP);
    unsigned syns = net.seen.tcp_syns;
    if (connect(c, (struct sockaddr *)&a, sizeof a) != -1 || errno != ECONNREFUSED ||
        net.seen.tcp_syns != syns + 1)
        r = fail(why, "connect to the peer's closed port: %s", strerror(errno));
    close(c);
    return r;
}

/* The peer answers the handshake and then vanishes: keepalive gives up with ETIMEDOUT and
 * everything the connection held is freed. */
static int vanished_peer(char *why)
{
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0, one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(FAKE_SILENT_PORT)};
    a.sin_addr.s_addr = htonl(PEER_IP);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        close(c);
        return fail(why, "connect to the silent port: %s", strerror(errno));
    }
    setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof one);
    setsockopt(c, IPPROTO_TCP, TCP_KEEPINTVL, &one, sizeof one);
    setsockopt(c, IPPROTO_TCP, TCP_KEEPCNT, &one, sizeof one);
    struct pollfd pf = {.fd = c, .events = POLLIN};
    char b[4];
    double t0 = now_ms();
    int n = poll(&pf, 1, 10000);
    double dt = now_ms() - t0;
    if (n != 1 || !(pf.revents & POLLERR) || dt < 900)
        r = fail(why, "keepalive to a vanished peer: poll %d revents 0x%x after %.0f ms", n,
                 pf.revents, dt);
    else if (recv(c, b, sizeof b, 0) != -1 || errno != ETIMEDOUT)
        r = fail(why, "recv after keepalive gave up: %s, not ETIMEDOUT", strerror(errno));
    close(c);
    return r;
}

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    return f ? 0 : -1;
}

static int dns(char *why)
{
    char conf[256];
    read_file("/etc/resolv.conf", conf, sizeof conf);
    if (!strstr(conf, "nameserver 10.0.9.2\n"))
        return fail(why, "/etc/resolv.conf does not name dns=: %s", conf);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    unsigned q = net.seen.dns_queries;
    int e = getaddrinfo("bmc.svcos.test", "443", &hints, &res);
    int ok = e == 0 && res && res->ai_family == AF_INET &&
             ((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr == htonl(FAKE_DNS_ANSWER) &&
             ((struct sockaddr_in *)res->ai_addr)->sin_port == htons(443);
    if (res)
        freeaddrinfo(res);
    if (!ok)
        return fail(why, "getaddrinfo through the NIC's DNS server: %s (%u queries)",
                    e ? gai_strerror(e) : "wrong answer", net.seen.dns_queries - q);
    return 0;
}

/* ip=dhcp: DISCOVER, OFFER, REQUEST, ACK, the address probed with ARP, bound; the lease's DNS
 * server replaces the one before in /etc/resolv.conf. */
static int dhcp(char *why)
{
    struct netstack_nic_info info = {.ops = &fake_ops, .drv = &dnet, .mtu = 1500};
    memcpy(info.mac, dnet.our_mac, 6);
    struct netstack_nic *nic = netstack_add_nic(&info, "ip=dhcp");
    uint32_t addr = 0;
    int prefix = 0;
    for (int i = 0; nic && i < 500 && addr != htonl(dnet.offer_ip); i++) {
        run_loop(10);
        netstack_nic_ipv4(nic, &addr, &prefix);
    }
    if (addr != htonl(dnet.offer_ip) || prefix != 24)
        return fail(why, "DHCP: address %08x/%d after %u discovers, %u requests", ntohl(addr),
                    prefix, dnet.seen.dhcp_discovers, dnet.seen.dhcp_requests);
    dnet.our_ip = dnet.offer_ip;
    char conf[256];
    read_file("/etc/resolv.conf", conf, sizeof conf);
    if (!strstr(conf, "nameserver 10.0.10.2\n"))
        return fail(why, "DHCP's DNS server is not in /etc/resolv.conf: %s", conf);
    /* The new interface carries traffic to its own subnet. */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;
    struct sockaddr_in echo = {.sin_family = AF_INET, .sin_port = htons(FAKE_ECHO_PORT)};
    echo.sin_addr.s_addr = htonl(dnet.peer_ip);
    char buf[16];
    struct pollfd pf = {.fd = s, .events = POLLIN};
    if (sendto(s, "via dhcp", 8, 0, (struct sockaddr *)&echo, sizeof echo) != 8 ||
        poll(&pf, 1, 1000) != 1 || recv(s, buf, sizeof buf, 0) != 8 || memcmp(buf, "via dhcp", 8))
        r = fail(why, "UDP echo over the DHCP interface: %s", strerror(errno));
    close(s);
    if (!r && dnet.seen.bad_checksums)
        r = fail(why, "%u frames with bad checksums on the DHCP interface",
                 dnet.seen.bad_checksums);
    return r;
}

int check_nic(struct st_ctx *c, char *why)
{
    (void)c;
    if (!netstack_add_nic)
        return 0; /* natively there is no netstack to give a NIC */
    struct netstack_nic_info info = {.ops = &fake_ops, .drv = &net, .mtu = 1500};
    memcpy(info.mac, net.our_mac, 6);
    struct netstack_nic *nic = netstack_add_nic(&info, "ip=10.0.9.1/24 gw=10.0.9.254 dns=10.0.9.2");
    uint32_t addr = 0;
    int prefix = 0;
    if (!nic || (netstack_nic_ipv4(nic, &addr, &prefix), addr != htonl(OUR_IP)) || prefix != 24)
        return fail(why, "netstack_add_nic: address %08x/%d", ntohl(addr), prefix);
    struct net_base b;
    net_begin(&b);
    fake_send_arp_request(&net, OUR_IP);
    if (!wait_seen(&net.seen.arp_replies, 1))
        return fail(why, "no ARP reply from the interface");
    fake_send_ping(&net, 0x5ec0, 7);
    if (!wait_seen(&net.seen.ping_replies, 1) || net.seen.ping_id != 0x5ec0 ||
        net.seen.ping_seq != 7)
        return fail(why, "no echo reply to a ping");
    if (udp_both_ways(why) < 0 || tcp_refused(why) < 0 || vanished_peer(why) < 0 || dns(why) < 0)
        return -1;
    if (net.seen.bad_checksums)
        return fail(why, "%u frames with bad checksums left the interface", net.seen.bad_checksums);
    if (net_end(&b, why) < 0)
        return -1;
    return dhcp(why);
}
