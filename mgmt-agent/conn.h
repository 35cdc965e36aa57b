/* conn.h: the agent's one event loop: TLS connections shuttled into libmicrohttpd. */
#ifndef AGENT_CONN_H
#define AGENT_CONN_H

#include <microhttpd.h>
#include <openssl/ssl.h>
#include <stdint.h>

struct conn_limits {
    int max_conns;         /* further clients are accepted and closed at once */
    int handshake_timeout; /* seconds a client has to finish the TLS handshake */
    /* Timed work on the loop's thread (following hv's events, keep-alives); called once per
     * turn with monotonic ms, it returns the ms until it wants to run again. May be NULL. */
    int64_t (*tick)(int64_t now_ms);
};

/* Serves until *stop becomes non-zero. Single-threaded and non-blocking throughout
 * (the service VM has no threads): plaintext reaches MHD through one socketpair per
 * connection, handed over with MHD_add_connection. */
int conn_loop(int listen_fd, SSL_CTX *ctx, struct MHD_Daemon *d, const struct conn_limits *lim,
              volatile int *stop);

#endif
