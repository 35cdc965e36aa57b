/* random.c: getrandom: a ChaCha20 generator keyed from RDSEED/RDRAND (where CPUID offers them)
 * mixed with TSC and clock jitter. */
#include "svcos.h"
#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* Fast-key-erasure construction: each request runs ChaCha20 under the current
 * key, hands out keystream, and replaces the key with fresh keystream.  Fresh
 * hardware entropy is folded into the key every RESEED_BYTES of output. */
#define RESEED_BYTES (1u << 20)

static uint32_t key[8];
static uint64_t counter, since_reseed;
static int seeded;

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d)                                                                             \
    (a += b, d ^= a, d = ROTL(d, 16), c += d, b ^= c, b = ROTL(b, 12), a += b, d ^= a,             \
     d = ROTL(d, 8), c += d, b ^= c, b = ROTL(b, 7))

static void chacha_block(const uint32_t k[8], uint64_t ctr, uint32_t out[16])
{
    uint32_t s[16] = {
        0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, k[0], k[1],          k[2],
        k[3],       k[4],       k[5],       k[6],       k[7], (uint32_t)ctr, (uint32_t)(ctr >> 32),
        0x76676c,   0x73766373};
    uint32_t x[16];
    memcpy(x, s, sizeof x);
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++)
        out[i] = x[i] + s[i];
}

static int hw64(uint64_t *v)
{
    unsigned char ok = 0;
    for (int tries = 0; tries < 10 && !ok; tries++) {
        if (cpu.rdseed)
            __asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok));
        if (!ok && cpu.rdrand)
            __asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok));
        if (!cpu.rdseed && !cpu.rdrand)
            break;
    }
    return ok;
}

/* Folds 32 bytes of new entropy into the key: key = ChaCha20(key ^ input). */
static void reseed(void)
{
    uint64_t w = 0, m = 0;
    hv_time(&w, &m);
    for (int i = 0; i < 8; i++) {
        uint64_t v = 0;
        uint32_t jitter = (uint32_t)rdtsc();
        if (!hw64(&v))
            v = rdtsc() * 0x9e3779b97f4a7c15ull; /* no hardware source: TSC jitter only */
        key[i] ^= (uint32_t)v ^ (uint32_t)(v >> 32) ^ jitter ^ (uint32_t)(i & 1 ? w : m);
    }
    uint32_t out[16];
    chacha_block(key, ~0ull, out);
    memcpy(key, out, sizeof key);
    since_reseed = 0;
}

void random_init(void)
{
    if (!cpu.rdrand && !cpu.rdseed)
        klog("no RDRAND/RDSEED: random numbers are seeded from TSC and clock jitter only");
    for (int i = 0; i < 4; i++)
        reseed();
    seeded = 1;
}

void random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    uint32_t out[16];
    if (!seeded || since_reseed >= RESEED_BYTES)
        reseed();
    since_reseed += len;
    while (len) {
        chacha_block(key, counter++, out);
        size_t n = len < sizeof out ? len : sizeof out;
        memcpy(p, out, n);
        p += n;
        len -= n;
    }
    chacha_block(key, counter++, out); /* erase the key that produced this output */
    memcpy(key, out, sizeof key);
    memset(out, 0, sizeof out);
}

long sys_getrandom(void *buf, size_t len, unsigned flags)
{
    if (flags & ~(GRND_NONBLOCK | GRND_RANDOM | 0x4 /* GRND_INSECURE */))
        return -EINVAL;
    if (len > 33554431)
        len = 33554431; /* Linux's per-call limit */
    random_bytes(buf, len);
    return (long)len;
}
