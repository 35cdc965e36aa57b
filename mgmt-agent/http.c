/* http.c: libmicrohttpd glue: request bodies, dispatch, and the Redfish response headers. */
#include "http.h"
#include "jsonutil.h"
#include "routes.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_REGISTRY "Base.1.16.0."

struct pending {
    char *body;
    size_t len;
    int too_big;
};

void resp_json(struct resp *r, int status, json_t *body)
{
    r->status = status;
    json_decref(r->body);
    r->body = body;
}

void resp_header(struct resp *r, const char *name, const char *value)
{
    if (r->nhdr == MAX_HDRS)
        return;
    r->hdr_name[r->nhdr] = strdup(name);
    r->hdr_value[r->nhdr++] = strdup(value);
}

void resp_error(struct resp *r, int status, const char *id, const char *fmt, ...)
{
    char msg[400], mid[80];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(mid, sizeof mid, BASE_REGISTRY "%s", id);
    const char *sev = status >= 500 ? "Critical" : "Warning";
    json_t *info =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@odata.type", "#Message.v1_1_1.Message",
                  "MessageId", mid, "Message", msg, "Severity", sev, "MessageSeverity", sev,
                  "Resolution", "Correct the request and resubmit it.");
    resp_json(r, status,
              json_pack("{s:{s:s, s:s, s:[o]}}", "error", "code", mid, "message", msg,
                        "@Message.ExtendedInfo", info));
}

const char *req_header(const struct req *q, const char *name)
{
    return MHD_lookup_connection_value(q->mc, MHD_HEADER_KIND, name);
}

const char *req_arg(const struct req *q, const char *name)
{
    return MHD_lookup_connection_value(q->mc, MHD_GET_ARGUMENT_KIND, name);
}

const char *seg(const struct req *q, int i)
{
    return i < q->nsegs ? q->segs[i] : "";
}

static const char *const method_names[] = {"GET", "HEAD", "POST", "PATCH", "DELETE", "PUT"};

const char *method_name(int m)
{
    for (int i = 0; i < 6; i++)
        if (m == 1 << i)
            return method_names[i];
    return "?";
}

static int parse_method(const char *m)
{
    for (int i = 0; i < 6; i++)
        if (!strcmp(m, method_names[i]))
            return 1 << i;
    return 0;
}

static void allow_header(struct MHD_Response *mr, int allow)
{
    char buf[64] = "";
    for (int i = 0; i < 6; i++)
        if (allow & (1 << i)) {
            if (buf[0])
                strcat(buf, ", ");
            strcat(buf, method_names[i]);
        }
    if (buf[0])
        MHD_add_response_header(mr, "Allow", buf);
}

static enum MHD_Result send_resp(struct MHD_Connection *mc, struct req *q, struct resp *r)
{
    struct MHD_Response *mr = r->raw;
    if (!mr) {
        char *text =
            r->body ? json_dumps(r->body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : strdup("");
        size_t n = strlen(text);
        mr = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
        if (r->body) {
            MHD_add_response_header(mr, "Content-Type", "application/json; charset=utf-8");
            char etag[24];
            json_etag(text, n, etag);
            if (r->status == 200 && (q->method & (M_GET | M_HEAD)))
                MHD_add_response_header(mr, "ETag", etag);
        }
    }
    MHD_add_response_header(mr, "OData-Version", "4.0");
    if (!MHD_get_response_header(mr, "Cache-Control")) /* the dashboard's files set their own */
        MHD_add_response_header(mr, "Cache-Control", "no-store");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(mr, "Strict-Transport-Security", "max-age=31536000");
    allow_header(mr, r->allow);
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(mr, r->hdr_name[i], r->hdr_value[i]);
    enum MHD_Result rc = MHD_queue_response(mc, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return rc;
}

static enum MHD_Result add_len(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    *(size_t *)cls += strlen(k) + (v ? strlen(v) : 0) + 4;
    return MHD_YES;
}

/* The request's header section's size (names, values, separators). */
static size_t header_bytes(struct MHD_Connection *mc, const char *url)
{
    size_t n = strlen(url);
    MHD_get_connection_values(mc, MHD_HEADER_KIND, add_len, &n);
    return n;
}

static void split_path(struct req *q, char *path)
{
    for (char *tok = strtok(path, "/"); tok; tok = strtok(NULL, "/")) {
        if (q->nsegs == MAX_SEGS) {
            q->nsegs = MAX_SEGS + 1; /* too deep: no route matches */
            return;
        }
        q->segs[q->nsegs++] = tok;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    (void)cls, (void)version;
    struct pending *p = *state;
    if (!p) {
        *state = calloc(1, sizeof *p);
        return *state ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        if (p->len + *upload_size > BODY_MAX) {
            p->too_big = 1; /* keep reading, answer once the body is in */
        } else {
            char *nb = realloc(p->body, p->len + *upload_size + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + p->len, upload, *upload_size);
            p->body = nb;
            p->len += *upload_size;
            p->body[p->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    struct req q = {
        .mc = mc, .method = parse_method(method), .url = url, .body = p->body, .body_len = p->len};
    struct resp r = {.status = 500};
    char *path = strdup(url);
    split_path(&q, path);
    char err[200];
    const char *odv = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "OData-Version");
    if (header_bytes(mc, url) > HEADER_MAX)
        resp_error(&r, 431, "GeneralError", "the request's headers exceed %d bytes", HEADER_MAX);
    else if (odv && strcmp(odv, "4.0"))
        resp_error(&r, 412, "PreconditionFailed", "OData-Version %.16s is not supported (4.0 is)",
                   odv);
    else if (p->too_big)
        resp_error(&r, 413, "GeneralError", "the request body exceeds %d bytes", BODY_MAX);
    else if (!q.method)
        resp_error(&r, 405, "OperationNotAllowed", "method %.16s is not supported", method);
    else if ((q.method & (M_POST | M_PATCH | M_PUT)) && p->len &&
             !(q.json = json_parse_bounded(p->body, p->len, JSON_DEPTH_MAX, err, sizeof err)))
        resp_error(&r, 400, "MalformedJSON", "%s", err);
    else
        routes_dispatch(&q, &r);
    enum MHD_Result rc = send_resp(mc, &q, &r);
    json_decref(q.json);
    json_decref(r.body);
    for (int i = 0; i < r.nhdr; i++)
        free(r.hdr_name[i]), free(r.hdr_value[i]);
    free(path);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *mc, void **state,
                    enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)mc, (void)why;
    struct pending *p = *state;
    if (p) {
        free(p->body);
        free(p);
        *state = NULL;
    }
}

/* Percent-decoding of URIs and query arguments that keeps %00 and %2F encoded: a decoded
 * NUL would cut the path short and a decoded slash would cross segments, so both stay
 * literal and fail the id check (404) instead. */
static size_t unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls, (void)mc;
    char *w = s;
    for (const char *p = s; *p; p++) {
        unsigned v;
        if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]) &&
            sscanf(p + 1, "%2x", &v) == 1 && v != 0 && v != '/') {
            *w++ = (char)v;
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

struct MHD_Daemon *http_start(unsigned conn_timeout_s, size_t mem_limit, unsigned max_conns)
{
    /* External polling, no threads; no listen socket (conn.c hands connections in). Event
     * streams suspend their connection while they have nothing to send (sse.c); the console's
     * WebSocket takes its connection over by an upgrade (console.c). */
    return MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE,
                            0, NULL, NULL, on_request, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done,
                            NULL, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, conn_timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem_limit,
                            MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_END);
}
