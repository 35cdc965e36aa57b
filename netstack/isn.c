/* isn.c: TCP initial sequence numbers as RFC 6528 asks: a 4 us clock plus a keyed hash
 * (SipHash-2-4) of the connection's addresses and ports. */
#include "ns.h"

#include "hooks.h"
#include <string.h>

static uint64_t key[2];
static int keyed;

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3)                                                                   \
    (v0 += v1, v1 = ROTL64(v1, 13), v1 ^= v0, v0 = ROTL64(v0, 32), v2 += v3, v3 = ROTL64(v3, 16),  \
     v3 ^= v2, v0 += v3, v3 = ROTL64(v3, 21), v3 ^= v0, v2 += v1, v1 = ROTL64(v1, 17), v1 ^= v2,   \
     v2 = ROTL64(v2, 32))

/* SipHash-2-4 over whole 8-byte words (the caller pads), with the length in the last word. */
static uint64_t siphash(const uint64_t *m, size_t words)
{
    uint64_t v0 = key[0] ^ 0x736f6d6570736575ull, v1 = key[1] ^ 0x646f72616e646f6dull;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261ull, v3 = key[1] ^ 0x7465646279746573ull;
    for (size_t i = 0; i <= words; i++) {
        uint64_t w = i < words ? m[i] : (uint64_t)(words * 8) << 56;
        v3 ^= w;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= w;
    }
    v2 ^= 0xff;
    for (int r = 0; r < 4; r++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

static void put_addr(unsigned char *out, const ip_addr_t *ip)
{
    if (IP_IS_V6(ip))
        memcpy(out, ip_2_ip6(ip)->addr, 16);
    else
        memcpy(out, &ip_2_ip4(ip)->addr, 4);
}

u32_t netstack_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                       u16_t remote_port)
{
    if (!keyed) {
        random_bytes(key, sizeof key);
        keyed = 1;
    }
    /* Only the address bytes: an IPv4 address leaves the rest of ip_addr_t's union undefined. */
    uint64_t m[5] = {0};
    unsigned char *b = (unsigned char *)m;
    put_addr(b, local_ip);
    put_addr(b + 16, remote_ip);
    memcpy(b + 32, &local_port, 2);
    memcpy(b + 34, &remote_port, 2);
    return (u32_t)(time_mono_ns() / 4000) + (u32_t)siphash(m, 5);
}
