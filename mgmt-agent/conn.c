/* conn.c: accept, TLS handshake, and byte shuttling between SSL objects and MHD's sockets. */
#include "conn.h"
#include "mtls.h"
#include "resources.h"
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 16384

struct conn {
    int tcp, app; /* app: our end of the socketpair whose other end MHD owns */
    int mhd;      /* MHD's end: only a key for conn_tcp_of, MHD closes it */
    SSL *ssl;
    int open;           /* handshake done */
    int net_eof;        /* the client closed (or TLS failed): MHD was told with SHUT_WR */
    int app_eof;        /* MHD closed the connection */
    int lingering;      /* since app_eof: deadline is when the rest of the output is given up */
    int want_r, want_w; /* what the SSL object waits for */
    int64_t deadline;
    size_t in_len, in_off, out_len, out_off;
    uint8_t in[BUF];  /* decrypted, on its way to MHD */
    uint8_t out[BUF]; /* MHD's response, on its way into SSL_write */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int mhd_fd;         /* MHD's end of the socketpair: how a request finds its connection */
    char cert_user[64]; /* the verified client certificate's account name, or "" */
};

static struct conn **conns;
static int nconns;

/* What else the loop serves (the console's viewers): at most a few, registered once. */
static const struct loop_hook *hooks[4];
static int nhooks;
/* The loop's poll set, for hook_add_fd. */
static struct pollfd *pf;
static int npf, cappf;

void conn_add_hook(const struct loop_hook *h)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i] == h)
            return;
    if (nhooks < (int)(sizeof hooks / sizeof hooks[0]))
        hooks[nhooks++] = h;
}

const char *conn_cert_user(int mhd_fd)
{
    for (int i = 0; mhd_fd >= 0 && i < nconns; i++)
        if (conns[i]->mhd_fd == mhd_fd)
            return conns[i]->cert_user[0] ? conns[i]->cert_user : NULL;
    return NULL;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void conn_free(int i)
{
    struct conn *c = conns[i];
    if (c->ssl) {
        if (c->open && !c->net_eof)
            SSL_shutdown(c->ssl); /* best effort: a close_notify, no waiting */
        SSL_free(c->ssl);
    }
    close(c->tcp);
    if (c->app >= 0)
        close(c->app);
    free(c);
    conns[i] = conns[--nconns];
}

static void accept_all(int lfd, SSL_CTX *ctx, const struct conn_limits *lim)
{
    for (;;) {
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        int fd = accept4(lfd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct conn *c = nconns < lim->max_conns ? calloc(1, sizeof *c) : NULL;
        if (!c || !(c->ssl = SSL_new(ctx))) {
            free(c);
            close(fd); /* over the cap: the client sees a closed connection, others go on */
            continue;
        }
        /* Responses leave in pieces (MHD's writes, TLS records): Nagle's algorithm could hold
         * a small one (an event) until the client acknowledges the one before. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
        c->tcp = fd;
        c->app = c->mhd_fd = -1;
        c->addr = a;
        c->addrlen = al;
        c->deadline = now_ms() + (int64_t)lim->handshake_timeout * 1000;
        SSL_set_fd(c->ssl, fd);
        conns[nconns++] = c;
    }
}

/* Records what SSL waits for; returns -1 when the error is final. */
static int ssl_wait(struct conn *c, int rc)
{
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        c->want_r = 1;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        c->want_w = 1;
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

static int handshake(struct conn *c, struct MHD_Daemon *d)
{
    int rc = SSL_accept(c->ssl);
    if (rc != 1)
        return ssl_wait(c, rc);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
        return -1;
    nonblock(sp[0]);
    nonblock(sp[1]);
    /* MHD may have closed a finished connection's end already: a number reused now is ours. */
    for (int i = 0; i < nconns; i++)
        if (conns[i]->mhd_fd == sp[1])
            conns[i]->mhd_fd = -1;
    c->mhd_fd = sp[1];
    mtls_peer_user(c->ssl, c->cert_user, sizeof c->cert_user);
    if (MHD_add_connection(d, sp[1], (const struct sockaddr *)&c->addr, c->addrlen) != MHD_YES) {
        close(sp[0]);
        return -1; /* MHD closed sp[1] */
    }
    c->app = sp[0];
    c->mhd = sp[1];
    c->open = 1;
    return 0;
}

/* Moves bytes both ways until nothing moves; -1 when the connection is finished. */
static int pump(struct conn *c, struct MHD_Daemon *d)
{
    c->want_r = c->want_w = 0;
    if (!c->open) {
        if (handshake(c, d))
            return -1;
        if (!c->open)
            return 0;
    }
    for (int moved = 1; moved;) {
        moved = 0;
        if (!c->net_eof && c->in_len == 0) {
            int r = SSL_read(c->ssl, c->in, BUF);
            if (r > 0) {
                c->in_len = (size_t)r, c->in_off = 0, moved = 1;
            } else if (ssl_wait(c, r)) {
                c->net_eof = 1;
                shutdown(c->app, SHUT_WR); /* MHD sees the client's end of stream */
            }
        }
        if (c->in_off < c->in_len) {
            ssize_t w = send(c->app, c->in + c->in_off, c->in_len - c->in_off, MSG_NOSIGNAL);
            if (w > 0) {
                c->in_off += (size_t)w, moved = 1;
                if (c->in_off == c->in_len)
                    c->in_len = c->in_off = 0;
            } else if (errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (!c->app_eof && c->out_len == 0) {
            ssize_t r = recv(c->app, c->out, BUF, 0);
            if (r > 0)
                c->out_len = (size_t)r, c->out_off = 0, moved = 1;
            else if (r == 0 || (errno != EAGAIN && errno != EINTR))
                c->app_eof = 1;
        }
        if (c->out_off < c->out_len) {
            if (c->net_eof)
                return -1; /* nobody to send it to */
            int w = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
            if (w > 0) {
                c->out_off += (size_t)w, moved = 1;
                if (c->out_off == c->out_len)
                    c->out_len = c->out_off = 0;
            } else if (ssl_wait(c, w)) {
                return -1;
            }
        }
    }
    return c->app_eof && c->out_len == 0 ? -1 : 0;
}

static void add_pfd(struct pollfd **p, int *n, int *cap, int fd, short ev)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *p = realloc(*p, (size_t)*cap * sizeof **p);
    }
    (*p)[(*n)++] = (struct pollfd){.fd = fd, .events = ev};
}

int conn_tcp_of(int mhd_fd)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i]->open && conns[i]->mhd == mhd_fd)
            return conns[i]->tcp;
    return -1;
}

static void hook_add_fd(int fd, short events)
{
    add_pfd(&pf, &npf, &cappf, fd, events);
}

int conn_loop(int lfd, SSL_CTX *ctx, struct MHD_Daemon *d, const struct conn_limits *lim,
              volatile int *stop)
{
    conns = calloc((size_t)lim->max_conns, sizeof *conns);
    int *const n = &npf, *const cap = &cappf;
    while (!*stop) {
        *n = 0;
        int64_t t = now_ms(), timeout = 1000;
        if (lim->tick) {
            int64_t due = lim->tick(t);
            timeout = due < 0 ? 0 : due < timeout ? due : timeout;
            MHD_run(d); /* what the tick resumed (event streams) moves before we sleep */
        }
        add_pfd(&pf, n, cap, lfd, POLLIN);
        for (int i = 0; i < nconns; i++) {
            struct conn *c = conns[i];
            short ev = (short)((c->want_r ? POLLIN : 0) | (c->want_w ? POLLOUT : 0));
            add_pfd(&pf, n, cap, c->tcp, ev);
            if (c->app >= 0)
                add_pfd(&pf, n, cap, c->app,
                        (short)((c->out_len || c->app_eof ? 0 : POLLIN) |
                                (c->in_off < c->in_len ? POLLOUT : 0)));
            if ((!c->open || c->lingering) && c->deadline - t < timeout)
                timeout = c->deadline - t < 0 ? 0 : c->deadline - t;
        }
        /* MHD's own ends of the socketpairs, so that its work wakes us too. */
        fd_set rs, ws, es;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        MHD_socket max = -1;
        MHD_UNSIGNED_LONG_LONG mt;
        if (MHD_get_fdset2(d, &rs, &ws, &es, &max, FD_SETSIZE) == MHD_YES)
            for (int fd = 0; fd <= max; fd++)
                if (FD_ISSET(fd, &rs) || FD_ISSET(fd, &ws))
                    add_pfd(&pf, n, cap, fd,
                            (short)((FD_ISSET(fd, &rs) ? POLLIN : 0) |
                                    (FD_ISSET(fd, &ws) ? POLLOUT : 0)));
        if (MHD_get_timeout(d, &mt) == MHD_YES && (int64_t)mt < timeout)
            timeout = (int64_t)mt;
        for (int i = 0; i < nhooks; i++) {
            hooks[i]->fds(hook_add_fd);
            int64_t ht = hooks[i]->timeout(t);
            if (ht >= 0 && ht < timeout)
                timeout = ht;
        }
        int due = systems_deferred_poll(); /* a service VM restart waiting for its 204 to go */
        if (due >= 0 && due < timeout)
            timeout = due;
        short up_ev = 0;
        int up_fd = upload_poll(&up_ev, &timeout); /* the crash-report uploader's connection */
        if (up_fd >= 0)
            add_pfd(&pf, n, cap, up_fd, up_ev);
        if (poll(pf, (nfds_t)*n, (int)timeout) < 0 && errno != EINTR)
            return -1;
        if (pf[0].revents & POLLIN)
            accept_all(lfd, ctx, lim);
        MHD_run(d);
        t = now_ms();
        for (int i = 0; i < nconns;) {
            struct conn *c = conns[i];
            if (c->app_eof &&
                !c->lingering) { /* MHD is done: the client has 5 s to take the rest */
                c->lingering = 1;
                c->deadline = t + 5000;
            }
            if (pump(c, d) || ((!c->open || c->lingering) && t > c->deadline))
                conn_free(i);
            else
                i++;
        }
        for (int i = 0; i < nhooks; i++)
            hooks[i]->run(t);
        MHD_run(d);
        upload_run();
    }
    for (int i = 0; i < nhooks; i++)
        hooks[i]->stop();
    MHD_run(d);
    while (nconns)
        conn_free(0);
    free(conns);
    free(pf);
    pf = NULL, npf = cappf = 0;
    return 0;
}
