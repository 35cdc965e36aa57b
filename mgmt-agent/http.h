/* http.h: one HTTP request and its response as the Redfish handlers see them. */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

enum method { M_GET = 1, M_HEAD = 2, M_POST = 4, M_PATCH = 8, M_DELETE = 16, M_PUT = 32 };

#define MAX_SEGS       12
#define BODY_MAX       (64 * 1024) /* request bodies: accounts, actions; nothing bigger */
#define JSON_DEPTH_MAX 16
/* Headers beyond this get a Redfish 431; MHD's per-connection memory (main.c) is the hard
 * stop above it, answered with MHD's own bare 431. */
#define HEADER_MAX (16 * 1024)

struct req {
    struct MHD_Connection *mc;
    int method;
    const char *url;
    char *segs[MAX_SEGS]; /* path segments after /redfish/v1 */
    int nsegs;
    const char *body;
    size_t body_len;
    json_t *json; /* the parsed body, or NULL when there is none */
    /* who asked (after authentication) */
    int authed;
    int role;
    int privs;
    char user[64];
    char session[40]; /* the session id when authenticated by a token */
};

#define MAX_HDRS 10

struct resp {
    int status;
    json_t *body;             /* owned; serialized when sent */
    struct MHD_Response *raw; /* or a prebuilt response (streams) */
    int allow;                /* methods for Allow; 0 = the route's */
    int nhdr;
    char *hdr_name[MAX_HDRS];  /* owned */
    char *hdr_value[MAX_HDRS]; /* owned */
};

void resp_json(struct resp *r, int status, json_t *body);
void resp_header(struct resp *r, const char *name, const char *value);
/* A Redfish error: Base registry message `id` (e.g. "ResourceNotFound"), text printf-style. */
void resp_error(struct resp *r, int status, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *req_header(const struct req *q, const char *name);
const char *req_arg(const struct req *q, const char *name);
const char *method_name(int m);
/* The segment i, or "" when absent. */
const char *seg(const struct req *q, int i);

/* Starts MHD in external-poll mode with no listen socket of its own. */
struct MHD_Daemon *http_start(unsigned conn_timeout_s, size_t mem_limit, unsigned max_conns);

#endif
