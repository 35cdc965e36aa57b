/* libs.c: self-check: OpenSSL, Jansson and libmicrohttpd run on the redirected musl. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "libs: FAIL: %s\n", what);
    return 1;
}

static int check_openssl(void)
{
    static const unsigned char want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                           0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                           0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                           0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest("abc", 3, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32 ||
        memcmp(md, want, 32) != 0)
        return fail("SHA-256(\"abc\")");

    unsigned char rnd[32];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return fail("RAND_bytes");

    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!key)
        return fail("P-256 keygen");
    unsigned char sig[128];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)"msg", 3) == 1;
    EVP_MD_CTX_free(ctx);
    ctx = EVP_MD_CTX_new();
    ok = ok && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
         EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)"msg", 3) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!ok)
        return fail("P-256 sign/verify");
    printf("openssl: %s ok\n", OpenSSL_version(OPENSSL_VERSION));
    return 0;
}

static int check_jansson(void)
{
    json_error_t err;
    json_t *v = json_loads("{\"a\": [1, 2.5, \"x\"], \"b\": null}", 0, &err);
    if (!v)
        return fail("json_loads");
    json_object_set_new(v, "c", json_true());
    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    int ok = s && strcmp(s, "{\"a\":[1,2.5,\"x\"],\"b\":null,\"c\":true}") == 0;
    free(s);
    json_decref(v);
    if (!ok)
        return fail("json_dumps");
    printf("jansson: %s ok\n", jansson_version_str());
    return 0;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **state)
{
    static const char body[] = "svcos-ok";
    (void)cls, (void)url, (void)method, (void)version, (void)data, (void)data_size, (void)state;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* Drive MHD with select() in this one thread until the reply arrives on `cs`. */
static int mhd_roundtrip(struct MHD_Daemon *d, int cs, char *reply, size_t cap)
{
    size_t got = 0;
    for (int round = 0; round < 200; round++) {
        fd_set rs, ws, es;
        MHD_socket max = 0;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        if (MHD_get_fdset(d, &rs, &ws, &es, &max) != MHD_YES)
            return -1;
        FD_SET(cs, &rs);
        if (cs > max)
            max = cs;
        MHD_UNSIGNED_LONG_LONG to = 0;
        struct timeval tv = {0, 50000};
        if (MHD_get_timeout(d, &to) == MHD_YES && to < 50)
            tv.tv_usec = (suseconds_t)to * 1000;
        if (select(max + 1, &rs, &ws, &es, &tv) < 0)
            return -1;
        if (MHD_run_from_select(d, &rs, &ws, &es) != MHD_YES)
            return -1;
        if (FD_ISSET(cs, &rs)) {
            ssize_t n = recv(cs, reply + got, cap - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            reply[got] = 0;
        }
    }
    return (int)got;
}

static int check_microhttpd(void)
{
    /* A daemon without a listen socket: created and stopped. */
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, answer, NULL, MHD_OPTION_END);
    if (!d)
        return fail("MHD_start_daemon(NO_LISTEN_SOCKET)");
    MHD_stop_daemon(d);

    /* One real request on 127.0.0.1, external select, no threads. */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_END);
    if (!d)
        return fail("MHD_start_daemon(127.0.0.1:0)");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        MHD_stop_daemon(d);
        return fail("MHD bind port");
    }
    sa.sin_port = htons(info->port);
    int cs = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (cs < 0 || (connect(cs, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)) {
        MHD_stop_daemon(d);
        return fail("connect");
    }
    static const char req[] = "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char reply[2048];
    int n = -1;
    for (int i = 0; i < 100 && n < 0; i++) {
        /* the connect completes once MHD accepts; retry the send until then */
        if (send(cs, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1))
            n = 0;
        else if (errno != EAGAIN && errno != ENOTCONN)
            break;
        else
            MHD_run(d);
    }
    if (n == 0)
        n = mhd_roundtrip(d, cs, reply, sizeof reply);
    close(cs);
    MHD_stop_daemon(d);
    if (n <= 0 || strncmp(reply, "HTTP/1.1 200", 12) != 0 || !strstr(reply, "svcos-ok"))
        return fail("HTTP round trip");
    printf("libmicrohttpd: %s ok\n", MHD_get_version());
    return 0;
}

int main(void)
{
    if (check_openssl() || check_jansson() || check_microhttpd())
        return 1;
    printf("libs: ok\n");
    return 0;
}
