/* upload_conn.h: one HTTPS POST to the collector, non-blocking, driven by the agent's poll loop. */
#ifndef AGENT_UPLOAD_CONN_H
#define AGENT_UPLOAD_CONN_H

#include "upload_body.h"

#include <openssl/ssl.h>
#include <stdint.h>

struct up_target {
    char host[256], port[8], path[256]; /* from the URL: the certificate must name host */
    char addr[64], addr_port[8];        /* where to connect: the URL's host, or connect_to */
};

/* https://HOST[:PORT][/PATH] (PATH defaults to /reports), and connect_to ("ADDR:PORT", or "" for
 * the URL's host and port): 0, or -1 with err. */
int up_url_parse(const char *url, const char *connect_to, struct up_target *t, char *err,
                 size_t errlen);
/* A client context that trusts only ca_pem (PEM text) and, when cert_pem and key_pem are given,
 * presents that client certificate (mTLS). NULL with err on failure. */
SSL_CTX *up_tls_ctx(const char *ca_pem, const char *cert_pem, const char *key_pem, char *err,
                    size_t errlen);

struct up_conn;

/* Starts connecting (the address is resolved here: numeric, or a local name). The body is the
 * caller's and must live until up_conn_free. NULL with err on failure. */
struct up_conn *up_conn_start(SSL_CTX *ctx, const struct up_target *t, struct up_body *body,
                              const char *extra_headers, int timeout_s, char *err, size_t errlen);
/* The fd to poll, the events it waits for and its deadline (ms, CLOCK_MONOTONIC). */
int up_conn_poll(const struct up_conn *c, short *events, int64_t *deadline_ms);
/* Does what can be done without blocking: 0 more to do, 1 the answer is in, -1 failed (err). */
int up_conn_step(struct up_conn *c, char *err, size_t errlen);
/* After step returned 1: the HTTP status, Retry-After in seconds (-1 if none), the body. */
int up_conn_status(const struct up_conn *c);
int up_conn_retry_after(const struct up_conn *c);
const char *up_conn_answer(const struct up_conn *c);
void up_conn_free(struct up_conn *c);

int64_t up_now_ms(void); /* CLOCK_MONOTONIC */

#endif
