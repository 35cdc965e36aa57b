/* res_console.c: the console's WebSocket handshake at each System's ConsoleURI, and the System's
 * SerialConsole property that names it. */
#include "auth.h"
#include "console.h"
#include "hvlink.h"
#include "resources.h"
#include "sessions.h"
#include "websocket.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SUBPROTOCOL "vigil.console.v1"

json_t *serial_console_json(const char *vm)
{
    char uri[160];
    snprintf(uri, sizeof uri, "/redfish/v1/Systems/%s/SerialConsole/WebSocket", vm);
    return json_pack("{s:i, s:{s:b, s:s, s:b}}", "MaxConcurrentSessions", CONSOLE_MAX_VIEWERS,
                     "WebSocket", "ServiceEnabled", 1, "ConsoleURI", uri, "Interactive", 1);
}

/* True when the comma-separated header value has `want` as one of its tokens (any case). */
static int has_token(const char *value, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == n && !strncasecmp(p, want, n))
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}

/* Sec-WebSocket-Protocol: a session token (64 hex digits: what a browser, which cannot set
 * headers on a WebSocket, sends) and/or our subprotocol name; *echo gets the one to answer with. */
static void subprotocols(const char *value, char token[65], char echo[80])
{
    token[0] = echo[0] = 0;
    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ", \t");
        if (len == 64 && strspn(p, "0123456789abcdefABCDEF") >= 64) {
            memcpy(token, p, 64), token[64] = 0;
            if (!echo[0])
                memcpy(echo, p, 64), echo[64] = 0; /* bmcweb's way: the token itself */
        } else if (len == strlen(SUBPROTOCOL) && !strncmp(p, SUBPROTOCOL, len)) {
            snprintf(echo, 80, "%s", SUBPROTOCOL);
        }
        p += len;
    }
}

static int authenticate(struct req *q, struct resp *r, const char *token)
{
    if (!token[0])
        return auth_request(q, r); /* X-Auth-Token or Basic: non-browser clients */
    if (session_check(token, q->user, sizeof q->user, &q->role, q->session, sizeof q->session)) {
        resp_error(r, 401, "NoValidSession",
                   "the token in Sec-WebSocket-Protocol names no open session");
        resp_header(r, "WWW-Authenticate", "Basic realm=\"Vigil Redfish\", charset=\"UTF-8\"");
        return -1;
    }
    q->authed = 1;
    q->privs = role_privs(q->role);
    return 0;
}

void h_console_ws(struct req *q, struct resp *r)
{
    const char *vm = ARG(q, 1), *mode = req_arg(q, "mode");
    char token[65], echo[80], accept[29];
    subprotocols(req_header(q, "Sec-WebSocket-Protocol"), token, echo);
    if (authenticate(q, r, token))
        return;
    const char *upgrade = req_header(q, "Upgrade"), *connection = req_header(q, "Connection");
    const char *version = req_header(q, "Sec-WebSocket-Version"),
               *key = req_header(q, "Sec-WebSocket-Key");
    if (!upgrade || !has_token(upgrade, "websocket") || !connection ||
        !has_token(connection, "upgrade") || !(q->method & M_GET))
        return resp_error(r, 400, "GeneralError",
                          "%s takes a WebSocket upgrade (RFC 6455: GET with Upgrade: websocket)",
                          q->url);
    if (!version || strcmp(version, "13")) {
        resp_header(r, "Sec-WebSocket-Version", "13");
        return resp_error(r, 426, "GeneralError", "Sec-WebSocket-Version must be 13");
    }
    if (!key || ws_accept_key(key, accept))
        return resp_error(r, 400, "GeneralError",
                          "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters)");
    struct console_who who = {.can_write = !!(q->privs & P_CONF_COMPONENTS)};
    if (!mode || !strcmp(mode, "auto"))
        who.mode = CONSOLE_AUTO;
    else if (!strcmp(mode, "view"))
        who.mode = CONSOLE_VIEW;
    else if (!strcmp(mode, "takeover"))
        who.mode = CONSOLE_TAKEOVER;
    else
        return resp_error(r, 400, "QueryParameterValueError",
                          "mode=%.32s: the values are auto, view and takeover", mode);
    /* The VM must exist: hv's answer (404 for an unknown one) is the client's. */
    json_t *rep = hv_get(r, json_pack("{s:s, s:s, s:i}", "op", "console.read", "vm", vm, "max", 1));
    if (!rep)
        return;
    json_decref(rep);
    snprintf(who.user, sizeof who.user, "%s", q->user);
    snprintf(who.session, sizeof who.session, "%s", q->session);
    unsigned id = console_reserve(vm, &who);
    if (!id) {
        resp_header(r, "Retry-After", "5");
        return resp_error(r, 503, "ServiceTemporarilyUnavailable",
                          "%s has %d console viewers already (SerialConsole.MaxConcurrentSessions)",
                          vm, CONSOLE_MAX_VIEWERS);
    }
    r->raw = MHD_create_response_for_upgrade(console_upgraded, (void *)(uintptr_t)id);
    MHD_add_response_header(r->raw, "Upgrade", "websocket");
    MHD_add_response_header(r->raw, "Sec-WebSocket-Accept", accept);
    if (echo[0])
        MHD_add_response_header(r->raw, "Sec-WebSocket-Protocol", echo);
    r->status = MHD_HTTP_SWITCHING_PROTOCOLS;
}
