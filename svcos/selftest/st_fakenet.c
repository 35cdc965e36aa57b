/* st_fakenet.c: the self-test's pretend Ethernet: frames the interface transmits are checked
 * (checksums) and answered by a scripted peer; the peer's frames wait for the driver's poll. */
#define _GNU_SOURCE
#include "st_fakenet.h"
#include <netstack.h>
#include <string.h>

#pragma weak netstack_nic_input

const uint8_t fake_our_mac[6] = {0x02, 0, 0, 0, 0x09, 0x01};
const uint8_t fake_peer_mac[6] = {0x02, 0, 0, 0, 0x09, 0x02};
struct fake_seen fake_seen;

#define ETH_HLEN 14
#define IP_HLEN  20
#define MAX_RX   32

static struct {
    uint8_t data[1514];
    size_t len;
} rxq[MAX_RX];
static unsigned rx_head, rx_count;

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* The Internet checksum's running sum (RFC 1071). */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += get16(p + i);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* TCP and UDP checksums cover a pseudo-header of the IPv4 addresses, protocol and length. */
static uint16_t l4_sum(const uint8_t *ip, const uint8_t *l4, size_t len)
{
    uint32_t s = sum16(ip + 12, 8, 0) + ip[9] + (uint32_t)len;
    return fold(sum16(l4, len, s));
}

static uint8_t *queue_frame(size_t len)
{
    if (rx_count == MAX_RX || len > sizeof rxq[0].data)
        return NULL;
    unsigned i = (rx_head + rx_count++) % MAX_RX;
    rxq[i].len = len;
    memset(rxq[i].data, 0, len);
    return rxq[i].data;
}

static void eth(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, fake_peer_mac, 6);
    put16(f + 12, type);
}

/* An IPv4 frame from the peer to us; the caller fills the payload after ETH_HLEN + IP_HLEN. */
static uint8_t *ip_frame(uint8_t proto, size_t payload)
{
    uint8_t *f = queue_frame(ETH_HLEN + IP_HLEN + payload);
    if (!f)
        return NULL;
    eth(f, fake_our_mac, 0x0800);
    uint8_t *ip = f + ETH_HLEN;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(IP_HLEN + payload));
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = proto;
    put32(ip + 12, FAKE_PEER_IP);
    put32(ip + 16, FAKE_OUR_IP);
    put16(ip + 10, fold(sum16(ip, IP_HLEN, 0)));
    return f;
}

static void seal_udp(uint8_t *f, size_t udp_len)
{
    uint8_t *ip = f + ETH_HLEN, *u = ip + IP_HLEN;
    put16(u + 4, (uint16_t)udp_len);
    put16(u + 6, 0);
    uint16_t c = l4_sum(ip, u, udp_len);
    put16(u + 6, c ? c : 0xffff);
}

void fake_send_udp(uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    uint8_t *f = ip_frame(17, 8 + len);
    if (!f)
        return;
    uint8_t *u = f + ETH_HLEN + IP_HLEN;
    put16(u, sport);
    put16(u + 2, dport);
    memcpy(u + 8, data, len);
    seal_udp(f, 8 + len);
}

void fake_send_arp_request(uint32_t target_ip)
{
    uint8_t *f = queue_frame(ETH_HLEN + 28), bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (!f)
        return;
    eth(f, bcast, 0x0806);
    uint8_t *a = f + ETH_HLEN;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    memcpy(a + 8, fake_peer_mac, 6);
    put32(a + 14, FAKE_PEER_IP);
    put32(a + 24, target_ip);
}

void fake_send_ping(uint16_t id, uint16_t seq)
{
    static const char payload[] = "svcos ping payload";
    uint8_t *f = ip_frame(1, 8 + sizeof payload);
    if (!f)
        return;
    uint8_t *icmp = f + ETH_HLEN + IP_HLEN;
    icmp[0] = 8;
    put16(icmp + 4, id);
    put16(icmp + 6, seq);
    memcpy(icmp + 8, payload, sizeof payload);
    put16(icmp + 2, fold(sum16(icmp, 8 + sizeof payload, 0)));
}

static void arp_in(const uint8_t *a, size_t len)
{
    if (len < 28)
        return;
    if (get16(a + 6) == 2) {
        fake_seen.arp_replies++;
    } else if (get16(a + 6) == 1) {
        fake_seen.arp_requests++;
        if (get32(a + 24) != FAKE_PEER_IP)
            return; /* nobody else lives here */
        uint8_t *f = queue_frame(ETH_HLEN + 28);
        if (!f)
            return;
        eth(f, fake_our_mac, 0x0806);
        uint8_t *r = f + ETH_HLEN;
        memcpy(r, a, 6);
        r[4] = 6;
        r[5] = 4;
        put16(r + 6, 2);
        memcpy(r + 8, fake_peer_mac, 6);
        put32(r + 14, FAKE_PEER_IP);
        memcpy(r + 18, a + 8, 10); /* the asker's MAC and IP */
    }
}

/* Answers A queries with FAKE_DNS_ANSWER and anything else with no records. */
static void dns_in(const uint8_t *q, size_t len, uint16_t sport)
{
    fake_seen.dns_queries++;
    size_t i = 12;
    while (i < len && q[i])
        i += (size_t)q[i] + 1;
    if (len < 12 || i + 5 > len)
        return;
    size_t qend = i + 5; /* the name's terminating zero, type, class */
    int is_a = get16(q + i + 1) == 1;
    uint8_t resp[512];
    if (qend + 16 > sizeof resp)
        return;
    memcpy(resp, q, qend);
    put16(resp + 2, 0x8180); /* a response, recursion desired and available, no error */
    put16(resp + 6, is_a ? 1 : 0);
    put16(resp + 8, 0);
    put16(resp + 10, 0);
    size_t n = qend;
    if (is_a) {
        static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
        memcpy(resp + n, rr, sizeof rr);
        put32(resp + n + sizeof rr, FAKE_DNS_ANSWER);
        n += sizeof rr + 4;
    }
    fake_send_udp(FAKE_DNS_PORT, sport, resp, n);
}

static void udp_in(const uint8_t *ip, const uint8_t *u, size_t len)
{
    fake_seen.udp++;
    if (len < 8 || get16(u + 4) > len)
        return;
    if (get16(u + 6) && l4_sum(ip, u, get16(u + 4)) != 0)
        fake_seen.bad_checksums++;
    uint16_t sport = get16(u), dport = get16(u + 2), ulen = get16(u + 4);
    if (dport == FAKE_ECHO_PORT)
        fake_send_udp(FAKE_ECHO_PORT, sport, u + 8, ulen - 8u);
    else if (dport == FAKE_DNS_PORT)
        dns_in(u + 8, ulen - 8u, sport);
}

/* A SYN to the closed port gets a reset, as from a host with nothing listening; one to the
 * silent port a SYN-ACK, and then nothing ever again (a peer that vanished). */
static void tcp_in(const uint8_t *ip, const uint8_t *t, size_t len)
{
    if (len < 20)
        return;
    if (l4_sum(ip, t, len) != 0)
        fake_seen.bad_checksums++;
    if (!(t[13] & 0x02))
        return;
    fake_seen.tcp_syns++;
    uint16_t port = get16(t + 2);
    if (port != FAKE_CLOSED_PORT && port != FAKE_SILENT_PORT)
        return;
    int synack = port == FAKE_SILENT_PORT;
    size_t hl = synack ? 24 : 20;
    uint8_t *f = ip_frame(6, hl);
    if (!f)
        return;
    uint8_t *r = f + ETH_HLEN + IP_HLEN;
    put16(r, port);
    put16(r + 2, get16(t));
    put32(r + 4, 0x5eed0000u);
    put32(r + 8, get32(t + 4) + 1);
    r[12] = (uint8_t)((hl / 4) << 4);
    r[13] = synack ? 0x12 : 0x14; /* SYN+ACK, or RST+ACK */
    if (synack) {
        put16(r + 14, 65535);
        static const uint8_t mss[4] = {2, 4, 0x05, 0xb4}; /* MSS 1460 */
        memcpy(r + 20, mss, 4);
    }
    put16(r + 16, l4_sum(f + ETH_HLEN, r, hl));
}

static void ipv4_in(const uint8_t *ip, size_t len)
{
    if (len < IP_HLEN || (ip[0] >> 4) != 4 || get16(ip + 2) > len)
        return;
    size_t hl = (size_t)(ip[0] & 15) * 4, tot = get16(ip + 2);
    if (fold(sum16(ip, hl, 0)) != 0)
        fake_seen.bad_checksums++;
    const uint8_t *l4 = ip + hl;
    switch (ip[9]) {
    case 1:
        if (fold(sum16(l4, tot - hl, 0)) != 0)
            fake_seen.bad_checksums++;
        if (l4[0] == 0) {
            fake_seen.ping_replies++;
            fake_seen.ping_id = get16(l4 + 4);
            fake_seen.ping_seq = get16(l4 + 6);
        }
        break;
    case 17:
        udp_in(ip, l4, tot - hl);
        break;
    case 6:
        tcp_in(ip, l4, tot - hl);
        break;
    default:
        fake_seen.unknown++;
    }
}

int fake_transmit(void *drv, const void *frame, size_t len)
{
    (void)drv;
    const uint8_t *f = frame;
    fake_seen.frames++;
    if (len < ETH_HLEN)
        return 0;
    switch (get16(f + 12)) {
    case 0x0806:
        arp_in(f + ETH_HLEN, len - ETH_HLEN);
        break;
    case 0x0800:
        ipv4_in(f + ETH_HLEN, len - ETH_HLEN);
        break;
    case 0x86dd:
        fake_seen.ipv6++; /* neighbour and router solicitations */
        break;
    default:
        fake_seen.unknown++;
    }
    return 0;
}

int fake_poll(void *drv, struct netstack_nic *nic, int budget)
{
    (void)drv;
    int n = 0;
    while (rx_count && n < budget && netstack_nic_input) {
        /* Take it off the queue first: the stack may answer (and queue more) at once. */
        static uint8_t frame[1514];
        size_t len = rxq[rx_head].len;
        memcpy(frame, rxq[rx_head].data, len);
        rx_head = (rx_head + 1) % MAX_RX;
        rx_count--;
        netstack_nic_input(nic, frame, len);
        n++;
    }
    return n;
}
