/* st_bulk.c: 64 MiB each way over one loopback TCP connection at once, SHA-256 on both ends,
 * both ends non-blocking in one poll loop; then the one-way throughput without hashing. */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_net.h"
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BULK_BYTES  (64ull << 20)
#define SPEED_BYTES (256ull << 20)
#define CHUNK       (64 * 1024)

/* A stream of bytes that depends on its position and on `seed`, generated 8 bytes at a time. */
static void fill(unsigned char *buf, size_t n, uint64_t off, uint64_t seed)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull ^ seed;
        x ^= x >> 29;
        memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
    }
}

/* One direction of the transfer, seen from one socket. */
struct flow {
    uint64_t done, total, seed;
    EVP_MD_CTX *md; /* NULL: no hashing */
    unsigned char buf[CHUNK];
    size_t have, used; /* bytes generated into buf / already sent from it */
};

static int pump_send(int fd, struct flow *f)
{
    while (f->done < f->total) {
        if (f->used == f->have) {
            f->have = f->total - f->done < CHUNK ? (size_t)(f->total - f->done) : CHUNK;
            fill(f->buf, f->have, f->done, f->seed);
            if (f->md)
                EVP_DigestUpdate(f->md, f->buf, f->have);
            f->used = 0;
        }
        ssize_t w = send(fd, f->buf + f->used, f->have - f->used, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        f->used += (size_t)w;
        f->done += (uint64_t)w;
    }
    return 0;
}

static int pump_recv(int fd, struct flow *f)
{
    for (;;) {
        ssize_t r = recv(fd, f->buf, CHUNK, 0);
        if (r < 0)
            return errno == EAGAIN ? 0 : -1;
        if (r == 0)
            return f->done == f->total ? 0 : -1;
        if (f->md)
            EVP_DigestUpdate(f->md, f->buf, (size_t)r);
        f->done += (uint64_t)r;
    }
}

struct pair {
    int c, s;
};

static int connected_pair(struct pair *p, char *why)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int l = net_listen(AF_INET, 1, &sa, &salen);
    p->c = l < 0 ? -1 : net_connect(&sa, salen);
    p->s = p->c < 0 ? -1 : accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (l >= 0)
        close(l);
    if (p->s < 0 || net_nonblock(p->c) < 0 || net_nonblock(p->s) < 0)
        return fail(why, "connection: %s", strerror(errno));
    return 0;
}

/* Runs both ends until every flow is complete (each direction ends with a shutdown). */
static int run(struct pair *p, struct flow *c_out, struct flow *s_in, struct flow *s_out,
               struct flow *c_in, char *why)
{
    int c_shut = 0, s_shut = 0;
    double t0 = now_ms();
    while (s_in->done < s_in->total || c_in->done < c_in->total) {
        struct pollfd pf[2] = {{.fd = p->c, .events = POLLIN}, {.fd = p->s, .events = POLLIN}};
        if (c_out->done < c_out->total)
            pf[0].events |= POLLOUT;
        if (s_out->done < s_out->total)
            pf[1].events |= POLLOUT;
        if (poll(pf, 2, 5000) <= 0 || now_ms() - t0 > 120000)
            return fail(why, "stalled: client sent %llu got %llu, server sent %llu got %llu",
                        (unsigned long long)c_out->done, (unsigned long long)c_in->done,
                        (unsigned long long)s_out->done, (unsigned long long)s_in->done);
        if ((pf[0].revents | pf[1].revents) & POLLERR)
            return fail(why, "POLLERR during the transfer");
        if (pump_send(p->c, c_out) < 0 || pump_send(p->s, s_out) < 0 || pump_recv(p->s, s_in) < 0 ||
            pump_recv(p->c, c_in) < 0)
            return fail(why, "transfer: %s", strerror(errno));
        if (!c_shut && c_out->done == c_out->total)
            c_shut = shutdown(p->c, SHUT_WR) == 0;
        if (!s_shut && s_out->done == s_out->total)
            s_shut = shutdown(p->s, SHUT_WR) == 0;
    }
    return 0;
}

static int digest_equal(EVP_MD_CTX *a, EVP_MD_CTX *b)
{
    unsigned char da[32], db[32];
    unsigned la = 0, lb = 0;
    EVP_DigestFinal_ex(a, da, &la);
    EVP_DigestFinal_ex(b, db, &lb);
    return la == 32 && lb == 32 && !memcmp(da, db, 32);
}

static struct flow flows[4];

static int both_ways(char *why)
{
    struct pair p;
    if (connected_pair(&p, why) < 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        memset(&flows[i], 0, sizeof flows[i]);
        flows[i].total = BULK_BYTES;
        flows[i].seed = i < 2 ? 0x5eed1 : 0x5eed2;
        flows[i].md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(flows[i].md, EVP_sha256(), NULL);
    }
    int r = run(&p, &flows[0], &flows[1], &flows[2], &flows[3], why);
    if (r == 0 && !digest_equal(flows[0].md, flows[1].md))
        r = fail(why, "client -> server: SHA-256 differs");
    if (r == 0 && !digest_equal(flows[2].md, flows[3].md))
        r = fail(why, "server -> client: SHA-256 differs");
    for (int i = 0; i < 4; i++)
        EVP_MD_CTX_free(flows[i].md);
    close(p.c);
    close(p.s);
    return r;
}

/* One way, nothing hashed: what the stack itself moves. */
static int speed(struct st_ctx *c, char *why)
{
    struct pair p;
    if (connected_pair(&p, why) < 0)
        return -1;
    for (int i = 0; i < 4; i++)
        memset(&flows[i], 0, sizeof flows[i]);
    flows[0].total = flows[1].total = SPEED_BYTES;
    double t0 = now_ms();
    int r = run(&p, &flows[0], &flows[1], &flows[2], &flows[3], why);
    double ms = now_ms() - t0;
    if (r == 0)
        c->tcp_mb_per_s = (double)SPEED_BYTES / 1e6 / (ms / 1e3);
    close(p.c);
    close(p.s);
    return r;
}

int check_tcp_bulk(struct st_ctx *c, char *why)
{
    struct net_base b;
    net_begin(&b);
    if (both_ways(why) < 0 || speed(c, why) < 0)
        return -1;
    return net_end(&b, why);
}
