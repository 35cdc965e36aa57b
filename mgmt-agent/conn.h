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

/* Another part of the agent the loop serves besides HTTP (the console's WebSocket viewers). */
struct loop_hook {
    void (*fds)(void (*add)(int fd, short events)); /* the fds it waits on, each loop */
    int64_t (*timeout)(int64_t now_ms); /* ms until it wants to run anyway; -1 for never */
    void (*run)(int64_t now_ms);        /* after every poll, before MHD runs again */
    void (*stop)(void);                 /* the loop ends: close everything */
};

/* Registers h (once; the same hook again is a no-op). */
void conn_add_hook(const struct loop_hook *h);

/* The client's TCP socket of the connection whose MHD side is mhd_fd (an upgraded one), or -1. */
int conn_tcp_of(int mhd_fd);

/* Serves until *stop becomes non-zero. Single-threaded and non-blocking throughout
 * (the service VM has no threads): plaintext reaches MHD through one socketpair per
 * connection, handed over with MHD_add_connection. */
int conn_loop(int listen_fd, SSL_CTX *ctx, struct MHD_Daemon *d, const struct conn_limits *lim,
              volatile int *stop);

/* The account name a verified client certificate maps to on the TLS connection whose plaintext
 * MHD reads from mhd_fd, or NULL (no certificate; mtls.h). */
const char *conn_cert_user(int mhd_fd);

#endif
