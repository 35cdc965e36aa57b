/* st_http_tcp.c: libmicrohttpd listening on a real TCP socket (127.0.0.1) and a client in the
 * same program, one thread: driven by select, then by MHD's own epoll descriptor. */
#define _GNU_SOURCE
#include "selftest.h"
#include "st_net.h"
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#define BIG_BYTES  (1u << 20)
#define POST_BYTES (256u * 1024)

static unsigned char big_body[BIG_BYTES];

struct upload {
    size_t bytes;
    unsigned sum;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls, (void)version;
    struct upload *up = *state;
    if (!up) { /* first call: headers only */
        up = calloc(1, sizeof *up);
        *state = up;
        return up ? MHD_YES : MHD_NO;
    }
    if (*size) { /* a piece of the request body */
        for (size_t i = 0; i < *size; i++)
            up->sum = up->sum * 31 + (unsigned char)data[i];
        up->bytes += *size;
        *size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r;
    if (!strcmp(url, "/big")) {
        r = MHD_create_response_from_buffer(BIG_BYTES, big_body, MHD_RESPMEM_PERSISTENT);
    } else {
        char body[128];
        int n = snprintf(body, sizeof body,
                         "{\"method\":\"%s\",\"url\":\"%s\",\"bytes\":%zu,\"sum\":%u}", method, url,
                         up->bytes, up->sum);
        r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    }
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static void done_cb(void *cls, struct MHD_Connection *conn, void **state,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    free(*state);
    *state = NULL;
}

/* The client's side of one exchange: request out, response in until the server closes. */
struct client {
    int fd;
    const char *req;
    size_t req_len, sent;
    unsigned char *resp;
    size_t cap, got;
    int eof;
};

static int client_io(struct client *c, int can_write, int can_read)
{
    if (can_write && c->sent < c->req_len) {
        ssize_t w = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN)
            return -1;
        if (w > 0)
            c->sent += (size_t)w;
    }
    while (can_read && !c->eof) {
        ssize_t n = recv(c->fd, c->resp + c->got, c->cap - c->got, 0);
        if (n == 0)
            c->eof = 1;
        if (n <= 0)
            return n < 0 && errno != EAGAIN ? -1 : 0;
        c->got += (size_t)n;
        if (c->got == c->cap)
            return -1;
    }
    return 0;
}

/* Runs one request through the daemon with select (epfd < 0) or MHD's epoll descriptor. */
static int exchange(struct MHD_Daemon *d, int epfd, struct client *c, char *why)
{
    double t0 = now_ms();
    while (!c->eof) {
        if (now_ms() - t0 > 20000)
            return fail(why, "no complete response (%zu bytes)", c->got);
        fd_set rs, ws, es;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        MHD_socket max = 0;
        if (epfd < 0 && MHD_get_fdset(d, &rs, &ws, &es, &max) != MHD_YES)
            return fail(why, "MHD_get_fdset");
        if (epfd >= 0) {
            FD_SET(epfd, &rs);
            max = epfd > max ? epfd : max;
        }
        FD_SET(c->fd, &rs);
        if (c->sent < c->req_len)
            FD_SET(c->fd, &ws);
        if (c->fd > max)
            max = c->fd;
        MHD_UNSIGNED_LONG_LONG to = 1000;
        if (MHD_get_timeout(d, &to) != MHD_YES || to > 1000)
            to = 1000;
        struct timeval tv = {.tv_sec = (time_t)(to / 1000),
                             .tv_usec = (suseconds_t)(to % 1000) * 1000};
        if (select(max + 1, &rs, &ws, &es, &tv) < 0)
            return fail(why, "select: %s", strerror(errno));
        if ((epfd < 0 ? MHD_run_from_select(d, &rs, &ws, &es) : MHD_run(d)) != MHD_YES)
            return fail(why, "MHD_run");
        if (client_io(c, FD_ISSET(c->fd, &ws), FD_ISSET(c->fd, &rs)) < 0)
            return fail(why, "client: %s after %zu bytes", strerror(errno), c->got);
    }
    return 0;
}

static int request(struct MHD_Daemon *d, int epfd, const struct sockaddr_storage *sa,
                   socklen_t salen, const char *req, size_t req_len, const char *want_body,
                   size_t want_len, char *why)
{
    static unsigned char resp[BIG_BYTES + 4096];
    struct client c = {.req = req, .req_len = req_len, .resp = resp, .cap = sizeof resp};
    c.fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || (connect(c.fd, (const struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS))
        return fail(why, "client connect: %s", strerror(errno));
    int r = exchange(d, epfd, &c, why);
    close(c.fd);
    if (r < 0)
        return r;
    const unsigned char *body = memmem(resp, c.got, "\r\n\r\n", 4);
    size_t blen = body ? c.got - (size_t)(body + 4 - resp) : 0;
    if (c.got < 12 || memcmp(resp, "HTTP/1.1 200", 12) || !body || blen != want_len ||
        memcmp(body + 4, want_body, want_len))
        return fail(why, "unexpected response (%zu bytes, body %zu): %.60s", c.got, blen, resp);
    return 0;
}

static int serve(int use_epoll, char *why)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_ERROR_LOG | (use_epoll ? MHD_USE_EPOLL : 0);
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_NOTIFY_COMPLETED, done_cb, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                         10u, MHD_OPTION_END);
    if (!d)
        return fail(why, "MHD_start_daemon on 127.0.0.1 (epoll %d) failed", use_epoll);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    const union MHD_DaemonInfo *ei =
        use_epoll ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    int epfd = ei ? ei->epoll_fd : -1;
    struct sockaddr_storage sa = {0};
    memcpy(&sa, &addr, sizeof addr);
    ((struct sockaddr_in *)&sa)->sin_port = htons(pi ? pi->port : 0);
    static const char get[] =
        "GET /status?x=1 HTTP/1.1\r\nHost: svcos\r\nConnection: close\r\n\r\n";
    static const char want_get[] = "{\"method\":\"GET\",\"url\":\"/status\",\"bytes\":0,\"sum\":0}";
    static const char get_big[] = "GET /big HTTP/1.1\r\nHost: svcos\r\nConnection: close\r\n\r\n";
    static char post[POST_BYTES + 256];
    int hl = snprintf(post, sizeof post,
                      "POST /upload HTTP/1.1\r\nHost: svcos\r\nContent-Length: %u\r\nConnection: "
                      "close\r\n\r\n",
                      POST_BYTES);
    unsigned sum = 0;
    for (unsigned i = 0; i < POST_BYTES; i++) {
        post[hl + (int)i] = (char)('a' + i % 26);
        sum = sum * 31 + (unsigned char)post[hl + (int)i];
    }
    char want_post[128];
    int wl = snprintf(want_post, sizeof want_post,
                      "{\"method\":\"POST\",\"url\":\"/upload\",\"bytes\":%u,\"sum\":%u}",
                      POST_BYTES, sum);
    int r = (use_epoll && epfd < 0) ? fail(why, "no MHD epoll descriptor") : 0;
    if (!r)
        r = request(d, epfd, &sa, sizeof(struct sockaddr_in), get, sizeof get - 1, want_get,
                    sizeof want_get - 1, why);
    if (!r)
        r = request(d, epfd, &sa, sizeof(struct sockaddr_in), get_big, sizeof get_big - 1,
                    (const char *)big_body, BIG_BYTES, why);
    if (!r)
        r = request(d, epfd, &sa, sizeof(struct sockaddr_in), post, (size_t)hl + POST_BYTES,
                    want_post, (size_t)wl, why);
    MHD_stop_daemon(d);
    return r;
}

int check_http_tcp(struct st_ctx *c, char *why)
{
    (void)c;
    struct net_base b;
    net_begin(&b);
    for (size_t i = 0; i < BIG_BYTES; i++)
        big_body[i] = (unsigned char)(i * 131 + (i >> 12));
    if (serve(0, why) < 0)
        return -1;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES && serve(1, why) < 0)
        return -1;
    return net_end(&b, why);
}
