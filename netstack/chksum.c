/* chksum.c: the Internet checksum (RFC 1071) for lwIP (LWIP_CHKSUM), 32 bits at a time into a
 * 64-bit sum: several times lwIP's 16-bit loop, and every Ethernet frame pays it. */
#include <stdint.h>
#include <string.h>

/* Pure C (unit-tested natively): declared in lwipopts.h for lwIP. */
uint16_t netstack_chksum(const void *data, int len);

uint16_t netstack_chksum(const void *data, int len)
{
    /* The one's complement sum is the same in either byte order (RFC 1071 2(B)), so words are
     * added as the CPU loads them and the result is in that order too, as lwIP expects.
     * 2^32 words cannot overflow 64 bits, and lengths here are below 64 KiB. */
    const unsigned char *p = data;
    uint64_t a = 0, b = 0;
    for (; len >= 16; p += 16, len -= 16) {
        uint32_t w[4];
        memcpy(w, p, sizeof w);
        a += (uint64_t)w[0] + w[1];
        b += (uint64_t)w[2] + w[3];
    }
    uint64_t sum = a + b;
    for (; len >= 4; p += 4, len -= 4) {
        uint32_t w;
        memcpy(&w, p, sizeof w);
        sum += w;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, sizeof w);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) /* a last odd byte is the first byte of a 16-bit word padded with zero */
        sum += *p;
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffffffu) + (sum >> 32);
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)sum;
}
