/* netframe.h: building and reading Ethernet, ARP and IPv4 frames byte by byte in network order,
 * shared by the test guest that drives hv's card itself (tests/guests/net.c) and the svcos
 * self-test's pretend Ethernet (svcos/selftest/st_fakenet.c).  Header-only freestanding C. */
#ifndef VIGIL_NETFRAME_H
#define VIGIL_NETFRAME_H

#include <stddef.h>
#include <stdint.h>

#define NF_ETH_HLEN 14
#define NF_IP_HLEN  20
#define NF_ARP_LEN  28
#define NF_ETH_IPV4 0x0800
#define NF_ETH_ARP  0x0806
#define NF_IP_DF    0x4000

static inline void nf_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void nf_put32(uint8_t *p, uint32_t v)
{
    nf_put16(p, (uint16_t)(v >> 16));
    nf_put16(p + 2, (uint16_t)v);
}

static inline uint16_t nf_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t nf_get32(const uint8_t *p)
{
    return (uint32_t)nf_get16(p) << 16 | nf_get16(p + 2);
}

static inline void nf_mac(uint8_t *to, const uint8_t *from)
{
    for (int i = 0; i < 6; i++)
        to[i] = from ? from[i] : 0;
}

/* The Internet checksum's running sum (RFC 1071) and its final fold. */
static inline uint32_t nf_sum(const uint8_t *p, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += nf_get16(p + i);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static inline uint16_t nf_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* A TCP or UDP checksum: the segment at l4 (len bytes) with the IPv4 header ip's pseudo-header. */
static inline uint16_t nf_l4_sum(const uint8_t *ip, const uint8_t *l4, size_t len)
{
    uint32_t s = nf_sum(ip + 12, 8, 0) + ip[9] + (uint32_t)len;
    return nf_fold(nf_sum(l4, len, s));
}

/* An Ethernet header at f; returns where the payload goes. */
static inline uint8_t *nf_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    nf_mac(f, dst);
    nf_mac(f + 6, src);
    nf_put16(f + 12, type);
    return f + NF_ETH_HLEN;
}

/* A 20-byte IPv4 header at h (TTL 64, checksum filled) for `payload` bytes; `frag` holds the
 * flags and offset (NF_IP_DF or 0).  Returns where the payload goes. */
static inline uint8_t *nf_ipv4(uint8_t *h, uint32_t src, uint32_t dst, uint8_t proto,
                               size_t payload, uint16_t frag)
{
    for (int i = 0; i < NF_IP_HLEN; i++)
        h[i] = 0;
    h[0] = 0x45;
    nf_put16(h + 2, (uint16_t)(NF_IP_HLEN + payload));
    nf_put16(h + 6, frag);
    h[8] = 64;
    h[9] = proto;
    nf_put32(h + 12, src);
    nf_put32(h + 16, dst);
    nf_put16(h + 10, nf_fold(nf_sum(h, NF_IP_HLEN, 0)));
    return h + NF_IP_HLEN;
}

/* An ARP packet (Ethernet, IPv4) at a: op 1 request (tha NULL: zeros), 2 reply. */
static inline void nf_arp(uint8_t *a, uint16_t op, const uint8_t *sha, uint32_t spa,
                          const uint8_t *tha, uint32_t tpa)
{
    nf_put16(a, 1);
    nf_put16(a + 2, NF_ETH_IPV4);
    a[4] = 6;
    a[5] = 4;
    nf_put16(a + 6, op);
    nf_mac(a + 8, sha);
    nf_put32(a + 14, spa);
    nf_mac(a + 18, tha);
    nf_put32(a + 24, tpa);
}

#endif
