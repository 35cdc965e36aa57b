/* upload_conn.c: the uploader's HTTPS client: non-blocking connect, TLS with the collector's
 * certificate and host name checked, a chunked request body, the answer's status and body. */
#include "upload_conn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PIECE   (64u << 10) /* body bytes per chunk of the transfer coding */
#define ANSWER  (16u << 10) /* the collector's answer, headers and body, at most */
#define PER_RUN (4u << 20)  /* body bytes per step, so the agent's clients wait little */

enum cphase { C_CONNECT, C_HANDSHAKE, C_SEND, C_RECV, C_DONE };

struct up_conn {
    int fd;
    SSL *ssl;
    enum cphase phase;
    short events;
    int timeout_ms;
    int64_t deadline;
    struct up_body *body;
    char host[256];
    uint8_t out[PIECE + 32];
    size_t out_len, out_off;
    int body_done;
    char in[ANSWER + 1];
    size_t in_len;
    int status, retry_after;
    const char *answer;
};

int64_t up_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int up_url_parse(const char *url, const char *connect_to, struct up_target *t, char *err,
                 size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (strncmp(url, "https://", 8))
        return snprintf(err, errlen, "the collector URL must start with https://"), -1;
    const char *h = url + 8, *end = h + strcspn(h, ":/"), *p = end;
    if (end == h || (size_t)(end - h) >= sizeof t->host)
        return snprintf(err, errlen, "the collector URL has no host name"), -1;
    memcpy(t->host, h, (size_t)(end - h));
    snprintf(t->port, sizeof t->port, "443");
    if (*p == ':') {
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n > 5 || atoi(p + 1) > 65535 || (p[1 + n] && p[1 + n] != '/'))
            return snprintf(err, errlen, "the collector URL has a bad port"), -1;
        snprintf(t->port, sizeof t->port, "%.*s", (int)n, p + 1);
        p += 1 + n;
    }
    snprintf(t->path, sizeof t->path, "%s", *p ? p : "/reports");
    for (const char *c = t->path; *c; c++)
        if (!isgraph((unsigned char)*c))
            return snprintf(err, errlen, "the collector URL's path has a space or control"), -1;
    const char *colon = connect_to ? strrchr(connect_to, ':') : NULL;
    if (!connect_to || !*connect_to) {
        snprintf(t->addr, sizeof t->addr, "%s", t->host);
        snprintf(t->addr_port, sizeof t->addr_port, "%s", t->port);
    } else if (!colon || colon == connect_to || (size_t)(colon - connect_to) >= sizeof t->addr ||
               atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535 ||
               strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
        return snprintf(err, errlen, "ConnectTo must be ADDR:PORT, not %.80s", connect_to), -1;
    } else {
        snprintf(t->addr, sizeof t->addr, "%.*s", (int)(colon - connect_to), connect_to);
        snprintf(t->addr_port, sizeof t->addr_port, "%s", colon + 1);
    }
    return 0;
}

static void tls_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    snprintf(err, errlen, "%s: %s", what, e ? ERR_reason_error_string(e) : "unknown reason");
    ERR_clear_error();
}

SSL_CTX *up_tls_ctx(const char *ca_pem, const char *cert_pem, const char *key_pem, char *err,
                    size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    X509_STORE *store = ctx ? SSL_CTX_get_cert_store(ctx) : NULL;
    BIO *bio = ca_pem ? BIO_new_mem_buf(ca_pem, -1) : NULL;
    X509 *x;
    int n = 0;
    if (!ctx || !bio) {
        snprintf(err, errlen, "no CA certificate is configured for the collector");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_STORE_add_cert(store, x);
        X509_free(x), n++;
    }
    ERR_clear_error(); /* the end of the PEM text */
    BIO_free(bio);
    if (n == 0) {
        snprintf(err, errlen, "the collector CA is not a PEM certificate");
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert_pem && key_pem) {
        BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
        X509 *c = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
        EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
        int ok = c && k && SSL_CTX_use_certificate(ctx, c) == 1 &&
                 SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
        X509_free(c), EVP_PKEY_free(k), BIO_free(cb), BIO_free(kb);
        if (!ok) {
            tls_err(err, errlen, "the client certificate and key");
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

struct up_conn *up_conn_start(SSL_CTX *ctx, const struct up_target *t, struct up_body *body,
                              const char *extra_headers, int timeout_s, char *err, size_t errlen)
{
    /* IPv4 first: the service VM's network has nothing else, and "localhost" may list ::1
     * first where the collector listens on 127.0.0.1 only. */
    struct addrinfo hints = {.ai_family = AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *ai = NULL;
    int rc = getaddrinfo(t->addr, t->addr_port, &hints, &ai);
    if (rc) {
        hints.ai_family = AF_UNSPEC;
        rc = getaddrinfo(t->addr, t->addr_port, &hints, &ai);
    }
    if (rc)
        return snprintf(err, errlen, "cannot resolve %s: %s", t->addr, gai_strerror(rc)), NULL;
    struct up_conn *c = calloc(1, sizeof *c);
    if (!c) {
        freeaddrinfo(ai);
        return NULL;
    }
    c->body = body, c->retry_after = -1, c->timeout_ms = timeout_s * 1000;
    snprintf(c->host, sizeof c->host, "%s", t->host);
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
        snprintf(err, errlen, "cannot connect to %s:%s: %s", t->addr, t->addr_port,
                 strerror(errno));
        freeaddrinfo(ai);
        up_conn_free(c);
        return NULL;
    }
    freeaddrinfo(ai);
    c->ssl = SSL_new(ctx);
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, t->host, ip) == 1 || inet_pton(AF_INET6, t->host, ip) == 1;
    /* The host name (or address) in the URL must be in the certificate, not only a CA's seal. */
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
        (is_ip
             ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), t->host)
             : SSL_set1_host(c->ssl, t->host) && SSL_set_tlsext_host_name(c->ssl, t->host)) != 1) {
        tls_err(err, errlen, "TLS set-up");
        up_conn_free(c);
        return NULL;
    }
    int n = snprintf((char *)c->out, sizeof c->out,
                     "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: vigil-mgmt-agent\r\n"
                     "Content-Type: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                     "%s\r\n",
                     t->path, t->host, t->port, up_body_type(body), extra_headers);
    if (n < 0 || (size_t)n >= sizeof c->out) {
        snprintf(err, errlen, "the request headers are too long");
        up_conn_free(c);
        return NULL;
    }
    c->out_len = (size_t)n;
    c->events = POLLOUT;
    c->deadline = up_now_ms() + c->timeout_ms;
    return c;
}

int up_conn_poll(const struct up_conn *c, short *events, int64_t *deadline_ms)
{
    *events = c->events;
    *deadline_ms = c->deadline;
    return c->fd;
}

/* An SSL call that did not complete: 0 (wait for what it wants) or -1 with err. */
static int ssl_wait(struct up_conn *c, int r, const char *what, char *err, size_t errlen)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return 0;
    }
    long v = SSL_get_verify_result(c->ssl);
    if (c->phase == C_HANDSHAKE && v != X509_V_OK)
        snprintf(err, errlen, "the collector's certificate is refused: %s",
                 X509_verify_cert_error_string(v));
    else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
        snprintf(err, errlen, "%s: the collector closed the connection%s%s", what,
                 errno ? ": " : "", errno ? strerror(errno) : "");
    else
        tls_err(err, errlen, what);
    ERR_clear_error();
    return -1;
}

/* The next piece of the body, framed as one chunk (RFC 9112 7.1); the last chunk is empty. */
static int refill(struct up_conn *c, char *err, size_t errlen)
{
    ssize_t n = up_body_read(c->body, c->out + 10, PIECE, err, errlen);
    if (n < 0)
        return -1;
    if (n == 0) {
        memcpy(c->out, "0\r\n\r\n", 5);
        c->out_len = 5, c->body_done = 1;
    } else {
        char len[12];
        int h = snprintf(len, sizeof len, "%zx\r\n", (size_t)n);
        memcpy(c->out + 10 - h, len, (size_t)h); /* the size line right before the data */
        memmove(c->out, c->out + 10 - h, (size_t)h + (size_t)n);
        memcpy(c->out + h + n, "\r\n", 2);
        c->out_len = (size_t)h + (size_t)n + 2;
    }
    c->out_off = 0;
    return 0;
}

/* Parses the answer once its headers are in; 1 when it is complete (or the peer closed). */
static int parse(struct up_conn *c, int eof)
{
    c->in[c->in_len] = 0;
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end)
        return eof ? -1 : 0;
    if (sscanf(c->in, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    long clen = -1;
    for (char *l = strstr(c->in, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "Content-Length:", 15))
            clen = atol(l + 17);
        else if (!strncasecmp(l + 2, "Retry-After:", 12))
            c->retry_after = isdigit((unsigned char)l[14 + strspn(l + 14, " ")])
                                 ? atoi(l + 14)
                                 : -1; /* an HTTP date: the backoff decides */
    }
    c->answer = end + 4;
    size_t have = c->in_len - (size_t)(end + 4 - c->in);
    return eof || (clen >= 0 && have >= (size_t)clen) || c->in_len == ANSWER;
}

int up_conn_step(struct up_conn *c, char *err, size_t errlen)
{
    int64_t now = up_now_ms();
    size_t sent = 0;
    if (now > c->deadline) {
        static const char *const what[] = {"connecting", "in the TLS handshake", "sending",
                                           "waiting for the answer", "done"};
        return snprintf(err, errlen, "timed out %s (%d s)", what[c->phase], c->timeout_ms / 1000),
               -1;
    }
    for (;;) {
        int r;
        switch (c->phase) {
        case C_CONNECT: {
            struct pollfd p = {.fd = c->fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t l = sizeof soerr;
            if (poll(&p, 1, 0) <= 0)
                return 0;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &l);
            if (soerr)
                return snprintf(err, errlen, "cannot connect to the collector: %s",
                                strerror(soerr)),
                       -1;
            c->phase = C_HANDSHAKE;
            break;
        }
        case C_HANDSHAKE:
            if ((r = SSL_connect(c->ssl)) != 1)
                return ssl_wait(c, r, "TLS handshake", err, errlen);
            c->phase = C_SEND;
            c->deadline = up_now_ms() + c->timeout_ms;
            break;
        case C_SEND:
            if (c->out_off == c->out_len) {
                if (c->body_done) {
                    c->phase = C_RECV;
                    c->events = POLLIN;
                    break;
                }
                if (sent >= PER_RUN) {
                    c->events = POLLOUT; /* writable at once: back soon, after the others */
                    return 0;
                }
                if (refill(c, err, errlen))
                    return -1;
            }
            r = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
            if (r <= 0)
                return ssl_wait(c, r, "sending the report", err, errlen);
            c->out_off += (size_t)r, sent += (size_t)r;
            c->deadline = up_now_ms() + c->timeout_ms;
            break;
        case C_RECV:
            r = SSL_read(c->ssl, c->in + c->in_len, (int)(ANSWER - c->in_len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL)
                    return ssl_wait(c, r, "reading the answer", err, errlen);
            } else {
                c->in_len += (size_t)r;
                c->deadline = up_now_ms() + c->timeout_ms;
            }
            r = parse(c, r <= 0);
            if (r < 0)
                return snprintf(err, errlen, "the collector's answer is not HTTP"), -1;
            if (r == 0)
                break;
            c->phase = C_DONE;
            return 1;
        case C_DONE:
            return 1;
        }
    }
}

int up_conn_status(const struct up_conn *c)
{
    return c->status;
}

int up_conn_retry_after(const struct up_conn *c)
{
    return c->retry_after;
}

const char *up_conn_answer(const struct up_conn *c)
{
    return c->answer ? c->answer : "";
}

void up_conn_free(struct up_conn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
