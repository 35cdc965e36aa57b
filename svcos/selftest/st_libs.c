/* st_libs.c: self-test of Jansson (parse/dump round trip) and libmicrohttpd (no listen socket, no
 * threads; a request fed through MHD_add_connection over a socketpair). */
#define _GNU_SOURCE
#include "selftest.h"
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

int check_json(struct st_ctx *c, char *why)
{
    (void)c;
    static const char src[] =
        "{\"name\": \"svcos\", \"list\": [1, -2, 3.5, \"x\\u00e9\\n\"], "
        "\"nested\": {\"t\": true, \"f\": false, \"z\": null}, \"big\": 9007199254740993}";
    static const char want[] =
        "{\"big\":9007199254740993,\"list\":[1,-2,3.5,\"x\xc3\xa9\\n\"],\"name\":\"svcos\","
        "\"nested\":{\"f\":false,\"t\":true,\"z\":null}}";
    json_error_t err;
    json_t *v = json_loads(src, 0, &err);
    if (!v)
        return fail(why, "json_loads: %s at %d", err.text, err.position);
    char *out = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *again = out ? json_loads(out, 0, &err) : NULL;
    int ok = out && !strcmp(out, want) && again && json_equal(v, again);
    if (!ok)
        fail(why, "round trip gave %s", out ? out : "(null)");
    free(out);
    json_decref(again);
    json_decref(v);
    return ok ? 0 : -1;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls, (void)version, (void)data, (void)size;
    if (!*state) { /* first call: headers only */
        *state = conn;
        return MHD_YES;
    }
    const char *who = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "who");
    char body[256];
    int n = snprintf(body, sizeof body, "{\"method\":\"%s\",\"url\":\"%s\",\"who\":\"%s\"}", method,
                     url, who ? who : "");
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* MHD's own messages, kept for the failure report instead of going to stderr. */
static char mhd_log[160];
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    vsnprintf(mhd_log, sizeof mhd_log, fmt, ap);
}

/* Runs MHD from select() in this thread until the client end sees EOF. */
static long pump(struct MHD_Daemon *d, int cs, char *reply, size_t cap, char *why)
{
    size_t got = 0;
    for (int round = 0; round < 1000; round++) {
        fd_set rs, ws, es;
        MHD_socket max = 0;
        FD_ZERO(&rs);
        FD_ZERO(&ws);
        FD_ZERO(&es);
        if (MHD_get_fdset(d, &rs, &ws, &es, &max) != MHD_YES)
            return fail(why, "MHD_get_fdset");
        FD_SET(cs, &rs);
        if (cs > max)
            max = cs;
        MHD_UNSIGNED_LONG_LONG to = 1000;
        MHD_get_timeout(d, &to);
        struct timeval tv = {.tv_sec = (time_t)(to / 1000),
                             .tv_usec = (suseconds_t)(to % 1000) * 1000};
        if (select(max + 1, &rs, &ws, &es, &tv) < 0)
            return fail(why, "select: %s", strerror(errno));
        if (MHD_run_from_select(d, &rs, &ws, &es) != MHD_YES)
            return fail(why, "MHD_run_from_select");
        if (FD_ISSET(cs, &rs)) {
            ssize_t n = recv(cs, reply + got, cap - 1 - got, MSG_DONTWAIT);
            if (n == 0)
                return (long)got;
            if (n < 0 && errno != EAGAIN)
                return fail(why, "recv: %s", strerror(errno));
            if (n > 0)
                got += (size_t)n;
            reply[got] = 0;
        }
    }
    return fail(why, "no complete reply after 1000 rounds (%zu bytes)", got);
}

int check_http(struct st_ctx *c, char *why)
{
    (void)c;
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
                         NULL, MHD_OPTION_END);
    if (!d)
        return fail(why, "MHD_start_daemon(NO_LISTEN_SOCKET) failed");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        MHD_stop_daemon(d);
        return fail(why, "socketpair: %s", strerror(errno));
    }
    /* What a TLS terminator would hand MHD: the plaintext side and the peer's address. */
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (MHD_add_connection(d, sv[1], (const struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        MHD_stop_daemon(d);
        return fail(why, "MHD_add_connection: %s", strerror(errno));
    }
    static const char req[] =
        "GET /redfish/v1?who=selftest HTTP/1.1\r\nHost: svcos\r\nConnection: close\r\n\r\n";
    static char reply[4096];
    long n = -1;
    if (send(sv[0], req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)sizeof req - 1)
        n = pump(d, sv[0], reply, sizeof reply, why);
    close(sv[0]);
    MHD_stop_daemon(d);
    if (n < 0)
        return -1;
    const char *body = strstr(reply, "\r\n\r\n");
    if (strncmp(reply, "HTTP/1.1 200", 12) || !body ||
        strcmp(body + 4, "{\"method\":\"GET\",\"url\":\"/redfish/v1\",\"who\":\"selftest\"}") ||
        !strstr(reply, "Content-Type: application/json"))
        return fail(why, "unexpected reply (%ld bytes): %.80s (MHD: %s)", n, reply, mhd_log);
    return 0;
}
