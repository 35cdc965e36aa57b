/* st_serve.c: the self-test's --mode serve: once DHCP gave an address, libmicrohttpd on port 8080
 * for a host on the other side of hv's virtio-net card (tests/e2e: hostfwd, bulk both ways, its
 * own descriptor and socket counts, a crash on request). */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netstack.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define BLOCK 65536
#define SERVE_PORT                                                                                 \
    8080 /* SERVE_PORT=N in the environment (or on svcos's command line) changes it */

#pragma weak netstack_get_stats /* present on svcos: the address comes from the card's DHCP */

/* The bulk data repeats one 64 KiB block: SHA-256("svcos-net <i>") for i = 0..2047, which the
 * test rebuilds with hashlib. */
static unsigned char block[BLOCK];
static int quit, crash;

static void make_block(void)
{
    for (int i = 0; i < BLOCK / 32; i++) {
        char in[32];
        int n = snprintf(in, sizeof in, "svcos-net %d", i);
        EVP_Digest(in, (size_t)n, block + 32 * i, NULL, EVP_sha256(), NULL);
    }
}

static ssize_t bulk_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    size_t off = (size_t)(pos % BLOCK), n = BLOCK - off < max ? BLOCK - off : max;
    memcpy(buf, block + off, n);
    return (ssize_t)n;
}

struct upload {
    EVP_MD_CTX *md;
    uint64_t bytes;
};

static enum MHD_Result reply(struct MHD_Connection *conn, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls, (void)version;
    struct upload *up = *state;
    if (!up) {
        up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        *state = up;
        /* ?hash=0: only count an upload (the benchmark measures the network, not SHA-256) */
        const char *h = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "hash");
        if (h && !strcmp(h, "0"))
            return MHD_YES;
        if (!(up->md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(up->md, EVP_sha256(), NULL))
            return MHD_NO;
        return MHD_YES;
    }
    if (*size) {
        if (up->md)
            EVP_DigestUpdate(up->md, data, *size);
        up->bytes += *size;
        *size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/bulk")) {
        const char *mb = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "mb");
        uint64_t total = (uint64_t)(mb ? atoi(mb) : 1) << 20;
        struct MHD_Response *r =
            MHD_create_response_from_callback(total, BLOCK, bulk_reader, NULL, NULL);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!strcmp(url, "/sink") && !strcmp(method, "POST")) {
        unsigned char d[32];
        unsigned dl = 0;
        if (up->md)
            EVP_DigestFinal_ex(up->md, d, &dl);
        char text[128];
        int n = snprintf(text, sizeof text, "{\"bytes\":%llu,\"sha256\":\"",
                         (unsigned long long)up->bytes);
        for (unsigned i = 0; i < dl; i++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%02x", d[i]);
        snprintf(text + n, sizeof text - (size_t)n, "\"}");
        return reply(conn, text);
    }
    if (!strcmp(url, "/stats")) { /* what a leak would show: counted now, this request's too */
        struct net_base b;
        net_begin(&b);
        char text[256];
        snprintf(text, sizeof text,
                 "{\"fds\":%d,\"sockets\":%u,\"tcp_pcbs\":%u,\"tcp_segs\":%u,"
                 "\"heap_blocks\":%llu,\"pbuf_ref\":%u}",
                 b.fds, b.sockets, b.tcp_pcbs, b.tcp_segs, b.heap_blocks, b.pbuf_ref);
        return reply(conn, text);
    }
    if (!strcmp(url, "/crash")) { /* after the answer: a write through NULL, as in --mode fault */
        crash = 1;
        return reply(conn, "crashing\n");
    }
    if (!strcmp(url, "/quit")) {
        quit = 1;
        return reply(conn, "bye\n");
    }
    return reply(conn, "hello from svcos\n");
}

static void done_cb(void *cls, struct MHD_Connection *conn, void **state,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct upload *up = *state;
    if (up) {
        EVP_MD_CTX_free(up->md);
        free(up);
    }
    *state = NULL;
}

/* The card's address, once DHCP gave one (a route to its router exists only then). */
static int wait_for_address(char *addr, size_t cap)
{
    struct sockaddr_in gw = {.sin_family = AF_INET, .sin_port = htons(9)}, me;
    inet_pton(AF_INET, "10.0.2.2", &gw.sin_addr);
    for (int i = 0; i < 600; i++) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        socklen_t len = sizeof me;
        int ok = s >= 0 && connect(s, (struct sockaddr *)&gw, sizeof gw) == 0 &&
                 getsockname(s, (struct sockaddr *)&me, &len) == 0 && me.sin_addr.s_addr;
        if (s >= 0)
            close(s);
        if (ok) {
            inet_ntop(AF_INET, &me.sin_addr, addr, (socklen_t)cap);
            return 0;
        }
        poll(NULL, 0, 50);
    }
    return -1;
}

int run_serve(void)
{
    char addr[32] = "0.0.0.0"; /* natively on Linux: its interfaces are configured already */
    if (netstack_get_stats && wait_for_address(addr, sizeof addr) < 0) {
        printf("serve: no address after 30 s\n");
        return 1;
    }
    const char *ps = getenv("SERVE_PORT");
    int port = ps ? atoi(ps) : SERVE_PORT;
    make_block();
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, answer,
                                            NULL, MHD_OPTION_NOTIFY_COMPLETED, done_cb, NULL,
                                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        printf("serve: MHD_start_daemon: %s\n", strerror(errno));
        return 1;
    }
    printf("serve: ready %s port %d\n", addr, port);
    fflush(stdout);
    double quit_at = 0;
    while (!quit_at || now_ms() - quit_at < 200) {
        fd_set rs, ws, es;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        MHD_socket max = 0;
        MHD_get_fdset(d, &rs, &ws, &es, &max);
        MHD_UNSIGNED_LONG_LONG to = 100;
        if (MHD_get_timeout(d, &to) != MHD_YES || to > 100)
            to = 100;
        struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)to * 1000};
        if (select(max + 1, &rs, &ws, &es, &tv) < 0)
            break;
        MHD_run_from_select(d, &rs, &ws, &es);
        if ((quit || crash) && !quit_at)
            quit_at = now_ms(); /* the answer to /quit or /crash still has to go out */
    }
    if (crash) {
        printf("serve: crashing on request\n");
        fflush(stdout);
        int *p = NULL;
        __asm__ volatile("" : "+r"(p)); /* a real store to page 0, not a compiler trap */
        *p = 1;
    }
    MHD_stop_daemon(d);
    printf("serve: done\n");
    return 0;
}
