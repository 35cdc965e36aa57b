/* st_tls.c: self-test of OpenSSL inside svcos: P-256 key, self-signed certificate, TLS 1.3
 * handshake and a 1 MiB echo over a socketpair, both ends in one thread. */
#define _GNU_SOURCE
#include "selftest.h"
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOST       "svcos-selftest"
#define ECHO_BYTES (1 << 20)

static int ssl_fail(char *why, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[120] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return fail(why, "%s: %s", what, e ? buf : "failed");
}

static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)HOST, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:" HOST);
    int ok = ext && X509_add_ext(x, ext, -1) && X509_sign(x, key, EVP_sha256());
    X509_EXTENSION_free(ext);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Waits until either end can move: `cw`/`sw` are the SSL_ERROR_WANT_* of each end (0: none). */
static int wait_ends(int cfd, int cw, int sfd, int sw)
{
    struct pollfd p[2] = {
        {.fd = cfd, .events = (short)(cw == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN)},
        {.fd = sfd, .events = (short)(sw == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN)},
    };
    return poll(p, 2, 5000);
}

static int want(SSL *s, int r)
{
    int e = SSL_get_error(s, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? e : -1;
}

static int handshake(SSL *cl, SSL *sv, int cfd, int sfd, char *why)
{
    int cdone = 0, sdone = 0;
    while (!cdone || !sdone) {
        int cw = 0, sw = 0, r;
        if (!cdone && (r = SSL_do_handshake(cl)) != 1 && (cw = want(cl, r)) < 0)
            return ssl_fail(why, "client handshake");
        cdone |= r == 1;
        if (!sdone && (r = SSL_do_handshake(sv)) != 1 && (sw = want(sv, r)) < 0)
            return ssl_fail(why, "server handshake");
        sdone |= r == 1;
        if ((!cdone || !sdone) && wait_ends(cfd, cw, sfd, sw) <= 0)
            return fail(why, "handshake stalled (poll: %s)", strerror(errno));
    }
    if (SSL_version(cl) != TLS1_3_VERSION || SSL_get_verify_result(cl) != X509_V_OK)
        return fail(why, "negotiated %s, verify result %ld", SSL_get_version(cl),
                    SSL_get_verify_result(cl));
    return 0;
}

/* The client sends ECHO_BYTES, the server returns them, the client checks them. */
static int echo(SSL *cl, SSL *sv, int cfd, int sfd, char *why)
{
    static unsigned char src[ECHO_BYTES], dst[ECHO_BYTES], sbuf[16384];
    size_t sent = 0, got = 0, spend = 0, soff = 0;
    RAND_bytes(src, sizeof src);
    while (got < ECHO_BYTES) {
        int progress = 0, r, cw = SSL_ERROR_WANT_READ, sw = SSL_ERROR_WANT_READ;
        if (sent < ECHO_BYTES) {
            int n = ECHO_BYTES - sent > 16384 ? 16384 : (int)(ECHO_BYTES - sent);
            if ((r = SSL_write(cl, src + sent, n)) > 0)
                sent += (size_t)r, progress = 1;
            else if ((cw = want(cl, r)) < 0)
                return ssl_fail(why, "client write");
        }
        if (spend == soff) {
            if ((r = SSL_read(sv, sbuf, sizeof sbuf)) > 0)
                spend = (size_t)r, soff = 0, progress = 1;
            else if (want(sv, r) < 0)
                return ssl_fail(why, "server read");
        }
        if (spend > soff) {
            if ((r = SSL_write(sv, sbuf + soff, (int)(spend - soff))) > 0)
                soff += (size_t)r, progress = 1;
            else if ((sw = want(sv, r)) < 0)
                return ssl_fail(why, "server write");
            if (soff == spend)
                spend = soff = 0;
        }
        if ((r = SSL_read(cl, dst + got, (int)(ECHO_BYTES - got))) > 0)
            got += (size_t)r, progress = 1;
        else if (want(cl, r) < 0)
            return ssl_fail(why, "client read");
        if (!progress && wait_ends(cfd, cw, sfd, sw) <= 0)
            return fail(why, "echo stalled at %zu/%zu bytes", got, sent);
    }
    return memcmp(src, dst, ECHO_BYTES) ? fail(why, "echoed bytes differ") : 0;
}

static SSL_CTX *server_ctx(EVP_PKEY *key, X509 *cert)
{
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    if (!s || !SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) ||
        SSL_CTX_use_certificate(s, cert) != 1 || SSL_CTX_use_PrivateKey(s, key) != 1 ||
        SSL_CTX_check_private_key(s) != 1) {
        SSL_CTX_free(s);
        return NULL;
    }
    SSL_CTX_set_mode(s, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return s;
}

static SSL_CTX *client_ctx(X509 *cert)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c || !SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(c), cert) != 1) {
        SSL_CTX_free(c);
        return NULL;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return c;
}

/* One connection: handshake, and the echo if asked. */
static int session(SSL_CTX *cctx, SSL_CTX *sctx, int do_echo, char *why)
{
    int sv[2], rc = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return fail(why, "socketpair: %s", strerror(errno));
    SSL *cl = SSL_new(cctx), *srv = SSL_new(sctx);
    if (!cl || !srv || !SSL_set_fd(cl, sv[0]) || !SSL_set_fd(srv, sv[1]) ||
        !SSL_set1_host(cl, HOST) || !SSL_set_tlsext_host_name(cl, HOST)) {
        ssl_fail(why, "SSL_new/set_fd");
        goto out;
    }
    SSL_set_connect_state(cl);
    SSL_set_accept_state(srv);
    if (handshake(cl, srv, sv[0], sv[1], why) == 0 &&
        (!do_echo || echo(cl, srv, sv[0], sv[1], why) == 0))
        rc = 0;
out:
    SSL_free(cl);
    SSL_free(srv);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

int check_tls(struct st_ctx *c, char *why)
{
    int rc = -1;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *cert = key ? make_cert(key) : NULL;
    SSL_CTX *sctx = cert ? server_ctx(key, cert) : NULL, *cctx = sctx ? client_ctx(cert) : NULL;
    if (!cctx) {
        ssl_fail(why,
                 key ? cert ? "SSL_CTX setup" : "self-signed certificate" : "P-256 key generation");
        goto out;
    }
    double t0 = now_ms();
    if (session(cctx, sctx, 0, why) < 0)
        goto out;
    double t1 = now_ms();
    if (session(cctx, sctx, 1, why) < 0)
        goto out;
    double t2 = now_ms();
    c->tls_handshake_ms = t1 - t0;
    c->tls_echo_ms = (t2 - t1) - c->tls_handshake_ms;
    if (c->bench > 0) {
        double b0 = now_ms();
        for (int i = 0; i < c->bench; i++)
            if (session(cctx, sctx, 0, why) < 0)
                goto out;
        c->tls_handshakes_per_s = c->bench / ((now_ms() - b0) / 1e3);
        b0 = now_ms();
        for (int i = 0; i < 5; i++)
            if (session(cctx, sctx, 1, why) < 0)
                goto out;
        c->tls_echo_ms = (now_ms() - b0) / 5 - 1e3 / c->tls_handshakes_per_s;
    }
    rc = 0;
out:
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}
