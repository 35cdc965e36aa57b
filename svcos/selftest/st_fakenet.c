/* st_fakenet.c: the self-test's pretend Ethernet: frames the interface transmits are checked
 * (checksums) and answered by a scripted peer (ARP, ping, UDP echo, DNS, DHCP, TCP); the peer's
 * frames wait for the driver's poll. */
#define _GNU_SOURCE
#include "st_fakenet.h"
#include "netframe.h"
#include <netstack.h>
#include <string.h>

#pragma weak netstack_nic_input

#define ETH_HLEN NF_ETH_HLEN
#define IP_HLEN  NF_IP_HLEN
#define MAX_RX   32

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint8_t *queue_frame(struct fakenet *n, size_t len)
{
    if (n->rx_count == MAX_RX || len > sizeof n->rxq[0].data)
        return NULL;
    unsigned i = (n->rx_head + n->rx_count++) % MAX_RX;
    n->rxq[i].len = len;
    memset(n->rxq[i].data, 0, len);
    return n->rxq[i].data;
}

static void eth(struct fakenet *n, uint8_t *f, const uint8_t *dst, uint16_t type)
{
    nf_eth(f, dst, n->peer_mac, type);
}

/* An IPv4 frame from the peer to `dst` (the interface's address, or broadcast); the caller
 * fills the payload after ETH_HLEN + IP_HLEN. */
static uint8_t *ip_frame_to(struct fakenet *n, uint8_t proto, size_t payload, uint32_t dst)
{
    uint8_t *f = queue_frame(n, ETH_HLEN + IP_HLEN + payload);
    if (!f)
        return NULL;
    eth(n, f, dst == 0xffffffffu ? bcast : n->our_mac, NF_ETH_IPV4);
    nf_ipv4(f + ETH_HLEN, n->peer_ip, dst, proto, payload, NF_IP_DF);
    return f;
}

static uint8_t *ip_frame(struct fakenet *n, uint8_t proto, size_t payload)
{
    return ip_frame_to(n, proto, payload, n->our_ip);
}

static void seal_udp(uint8_t *f, size_t udp_len)
{
    uint8_t *ip = f + ETH_HLEN, *u = ip + IP_HLEN;
    nf_put16(u + 4, (uint16_t)udp_len);
    nf_put16(u + 6, 0);
    uint16_t c = nf_l4_sum(ip, u, udp_len);
    nf_put16(u + 6, c ? c : 0xffff);
}

static void udp_to(struct fakenet *n, uint32_t dst, uint16_t sport, uint16_t dport,
                   const void *data, size_t len)
{
    uint8_t *f = ip_frame_to(n, 17, 8 + len, dst);
    if (!f)
        return;
    uint8_t *u = f + ETH_HLEN + IP_HLEN;
    nf_put16(u, sport);
    nf_put16(u + 2, dport);
    memcpy(u + 8, data, len);
    seal_udp(f, 8 + len);
}

void fake_send_udp(struct fakenet *n, uint16_t sport, uint16_t dport, const void *data, size_t len)
{
    udp_to(n, n->our_ip, sport, dport, data, len);
}

void fake_send_arp_request(struct fakenet *n, uint32_t target_ip)
{
    uint8_t *f = queue_frame(n, ETH_HLEN + 28);
    if (!f)
        return;
    eth(n, f, bcast, NF_ETH_ARP);
    nf_arp(f + ETH_HLEN, 1, n->peer_mac, n->peer_ip, NULL, target_ip);
}

void fake_send_ping(struct fakenet *n, uint16_t id, uint16_t seq)
{
    static const char payload[] = "svcos ping payload";
    uint8_t *f = ip_frame(n, 1, 8 + sizeof payload);
    if (!f)
        return;
    uint8_t *icmp = f + ETH_HLEN + IP_HLEN;
    icmp[0] = 8;
    nf_put16(icmp + 4, id);
    nf_put16(icmp + 6, seq);
    memcpy(icmp + 8, payload, sizeof payload);
    nf_put16(icmp + 2, nf_fold(nf_sum(icmp, 8 + sizeof payload, 0)));
}

static void arp_in(struct fakenet *n, const uint8_t *a, size_t len)
{
    if (len < 28)
        return;
    if (nf_get16(a + 6) == 2) {
        n->seen.arp_replies++;
    } else if (nf_get16(a + 6) == 1) {
        n->seen.arp_requests++;
        if (nf_get32(a + 24) != n->peer_ip)
            return; /* nobody else lives here (so a DHCP address probe finds it free) */
        uint8_t *f = queue_frame(n, ETH_HLEN + 28);
        if (!f)
            return;
        eth(n, f, n->our_mac, NF_ETH_ARP);
        nf_arp(f + ETH_HLEN, 2, n->peer_mac, n->peer_ip, a + 8, nf_get32(a + 14)); /* the asker */
    }
}

/* Answers A queries with FAKE_DNS_ANSWER and anything else with no records. */
static void dns_in(struct fakenet *net, const uint8_t *q, size_t len, uint16_t sport)
{
    net->seen.dns_queries++;
    size_t i = 12;
    while (i < len && q[i])
        i += (size_t)q[i] + 1;
    if (len < 12 || i + 5 > len)
        return;
    size_t qend = i + 5; /* the name's terminating zero, type, class */
    int is_a = nf_get16(q + i + 1) == 1;
    uint8_t resp[512];
    if (qend + 16 > sizeof resp)
        return;
    memcpy(resp, q, qend);
    nf_put16(resp + 2, 0x8180); /* a response, recursion desired and available, no error */
    nf_put16(resp + 6, is_a ? 1 : 0);
    nf_put16(resp + 8, 0);
    nf_put16(resp + 10, 0);
    size_t n = qend;
    if (is_a) {
        static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
        memcpy(resp + n, rr, sizeof rr);
        nf_put32(resp + n + sizeof rr, FAKE_DNS_ANSWER);
        n += sizeof rr + 4;
    }
    fake_send_udp(net, FAKE_DNS_PORT, sport, resp, n);
}

/* A DHCP server (RFC 2131) for offer_ip: DISCOVER gets an OFFER, REQUEST an ACK, both
 * broadcast (the client has no address yet), with mask, router, DNS server and lease. */
static void dhcp_in(struct fakenet *n, const uint8_t *m, size_t len)
{
    static const uint8_t cookie[4] = {99, 130, 83, 99};
    if (!n->offer_ip || len < 240 || m[0] != 1 || memcmp(m + 236, cookie, 4))
        return;
    int type = 0;
    for (size_t i = 240; i + 1 < len && m[i] != 255;) {
        if (m[i] == 0) {
            i++;
            continue;
        }
        if (m[i] == 53 && m[i + 1] == 1 && i + 2 < len)
            type = m[i + 2];
        i += 2u + m[i + 1];
    }
    if (type == 1)
        n->seen.dhcp_discovers++;
    else if (type == 3)
        n->seen.dhcp_requests++;
    else
        return;
    uint8_t r[300];
    memset(r, 0, sizeof r);
    r[0] = 2; /* BOOTREPLY */
    r[1] = 1;
    r[2] = 6;
    memcpy(r + 4, m + 4, 4); /* xid */
    nf_put32(r + 16, n->offer_ip);
    nf_put32(r + 20, n->peer_ip);
    memcpy(r + 28, m + 28, 16); /* chaddr */
    memcpy(r + 236, cookie, 4);
    uint8_t *o = r + 240;
    *o++ = 53, *o++ = 1, *o++ = type == 1 ? 2 : 5; /* OFFER or ACK */
    *o++ = 54, *o++ = 4, nf_put32(o, n->peer_ip), o += 4;
    *o++ = 51, *o++ = 4, nf_put32(o, 3600), o += 4;
    *o++ = 1, *o++ = 4, nf_put32(o, 0xffffff00u), o += 4;
    *o++ = 3, *o++ = 4, nf_put32(o, n->peer_ip), o += 4;
    *o++ = 6, *o++ = 4, nf_put32(o, n->peer_ip), o += 4;
    *o++ = 255;
    udp_to(n, 0xffffffffu, 67, 68, r, (size_t)(o - r));
}

static void udp_in(struct fakenet *n, const uint8_t *ip, const uint8_t *u, size_t len)
{
    n->seen.udp++;
    if (len < 8 || nf_get16(u + 4) > len)
        return;
    if (nf_get16(u + 6) && nf_l4_sum(ip, u, nf_get16(u + 4)) != 0)
        n->seen.bad_checksums++;
    uint16_t sport = nf_get16(u), dport = nf_get16(u + 2), ulen = nf_get16(u + 4);
    if (dport == FAKE_ECHO_PORT)
        fake_send_udp(n, FAKE_ECHO_PORT, sport, u + 8, ulen - 8u);
    else if (dport == FAKE_DNS_PORT)
        dns_in(n, u + 8, ulen - 8u, sport);
    else if (dport == 67 && sport == 68)
        dhcp_in(n, u + 8, ulen - 8u);
}

/* A SYN to the closed port gets a reset, as from a host with nothing listening; one to the
 * silent port a SYN-ACK, and then nothing ever again (a peer that vanished). */
static void tcp_in(struct fakenet *n, const uint8_t *ip, const uint8_t *t, size_t len)
{
    if (len < 20)
        return;
    if (nf_l4_sum(ip, t, len) != 0)
        n->seen.bad_checksums++;
    if (!(t[13] & 0x02))
        return;
    n->seen.tcp_syns++;
    uint16_t port = nf_get16(t + 2);
    if (port != FAKE_CLOSED_PORT && port != FAKE_SILENT_PORT)
        return;
    int synack = port == FAKE_SILENT_PORT;
    size_t hl = synack ? 24 : 20;
    uint8_t *f = ip_frame(n, 6, hl);
    if (!f)
        return;
    uint8_t *r = f + ETH_HLEN + IP_HLEN;
    nf_put16(r, port);
    nf_put16(r + 2, nf_get16(t));
    nf_put32(r + 4, 0x5eed0000u);
    nf_put32(r + 8, nf_get32(t + 4) + 1);
    r[12] = (uint8_t)((hl / 4) << 4);
    r[13] = synack ? 0x12 : 0x14; /* SYN+ACK, or RST+ACK */
    if (synack) {
        nf_put16(r + 14, 65535);
        static const uint8_t mss[4] = {2, 4, 0x05, 0xb4}; /* MSS 1460 */
        memcpy(r + 20, mss, 4);
    }
    nf_put16(r + 16, nf_l4_sum(f + ETH_HLEN, r, hl));
}

static void ipv4_in(struct fakenet *n, const uint8_t *ip, size_t len)
{
    if (len < IP_HLEN || (ip[0] >> 4) != 4 || nf_get16(ip + 2) > len)
        return;
    size_t hl = (size_t)(ip[0] & 15) * 4, tot = nf_get16(ip + 2);
    if (nf_fold(nf_sum(ip, hl, 0)) != 0)
        n->seen.bad_checksums++;
    const uint8_t *l4 = ip + hl;
    switch (ip[9]) {
    case 1:
        if (nf_fold(nf_sum(l4, tot - hl, 0)) != 0)
            n->seen.bad_checksums++;
        if (l4[0] == 0) {
            n->seen.ping_replies++;
            n->seen.ping_id = nf_get16(l4 + 4);
            n->seen.ping_seq = nf_get16(l4 + 6);
        }
        break;
    case 17:
        udp_in(n, ip, l4, tot - hl);
        break;
    case 6:
        tcp_in(n, ip, l4, tot - hl);
        break;
    default:
        n->seen.unknown++;
    }
}

int fake_transmit(void *drv, const void *frame, size_t len)
{
    struct fakenet *n = drv;
    const uint8_t *f = frame;
    n->seen.frames++;
    if (len < ETH_HLEN)
        return 0;
    switch (nf_get16(f + 12)) {
    case 0x0806:
        arp_in(n, f + ETH_HLEN, len - ETH_HLEN);
        break;
    case 0x0800:
        ipv4_in(n, f + ETH_HLEN, len - ETH_HLEN);
        break;
    case 0x86dd:
        n->seen.ipv6++; /* neighbour and router solicitations */
        break;
    default:
        n->seen.unknown++;
    }
    return 0;
}

int fake_poll(void *drv, struct netstack_nic *nic, int budget)
{
    struct fakenet *n = drv;
    int done = 0;
    while (n->rx_count && done < budget && netstack_nic_input) {
        /* Take it off the queue first: the stack may answer (and queue more) at once. */
        static uint8_t frame[1514];
        size_t len = n->rxq[n->rx_head].len;
        memcpy(frame, n->rxq[n->rx_head].data, len);
        n->rx_head = (n->rx_head + 1) % MAX_RX;
        n->rx_count--;
        netstack_nic_input(nic, frame, len);
        done++;
    }
    return done;
}
