/* svc_serve.c: the main loop answers the service VM's channel calls with the control socket's
 * own handlers: parse (every length checked), grant check, handle, encode. */
#include "control/svc_serve.h"

#include "base/log.h"
#include "control/ctl_handlers.h"
#include "supervisor/svcchan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *encode(const json_t *json, const uint8_t *data, uint32_t data_len, size_t *out_len)
{
    uint8_t *out = NULL;
    *out_len = ctl_encode(VIGIL_CTL_RESPONSE, json, data, data_len, &out);
    if (*out_len)
        return out;
    /* Only an answer over the framing's limits gets here (a handler's bug): say so. */
    json_t *e = ctl_error("ENOMEM", "the answer does not fit the control protocol's limits");
    *out_len = e ? ctl_encode(VIGIL_CTL_RESPONSE, e, NULL, 0, &out) : 0;
    json_decref(e);
    return *out_len ? out : NULL;
}

static uint8_t *refuse(size_t *out_len, const char *code, const char *why)
{
    log_debug("service channel: request refused: %s", why);
    json_t *e = ctl_error(code, "%s", why);
    uint8_t *out = e ? encode(e, NULL, 0, out_len) : NULL;
    json_decref(e);
    return out;
}

uint8_t *svc_answer(struct hv *hv, const uint8_t *req, size_t len, size_t *out_len)
{
    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[256], why[320];
    enum ctl_parse p = ctl_parse(req, len, &msg, &used, err, sizeof err);
    if (p == CTL_PARSE_NEED_MORE) {
        struct vigil_ctl_header h = {0};
        memcpy(&h, req, len < sizeof h ? len : sizeof h);
        snprintf(why, sizeof why,
                 "truncated request: the call carried %zu bytes, its header promises %llu", len,
                 len < sizeof h ? (unsigned long long)sizeof h
                                : (unsigned long long)sizeof h + h.json_len + h.data_len);
        return refuse(out_len, "EPROTO", why);
    }
    if (p == CTL_PARSE_BAD_FRAME) {
        snprintf(why, sizeof why, "bad request frame: %s", err);
        return refuse(out_len, "EPROTO", why);
    }
    if (p == CTL_PARSE_BAD_JSON)
        return refuse(out_len, "EINVAL", err);
    uint8_t *out = NULL;
    const char *op = json_string_value(json_object_get(msg.json, "op"));
    if (used != len) {
        snprintf(why, sizeof why, "%zu bytes follow the request's frame: one request per call",
                 len - used);
        out = refuse(out_len, "EPROTO", why);
    } else if (op && msg.kind == VIGIL_CTL_REQUEST &&
               !svc_request_allowed(atomic_load(&hv->service), op, msg.json, why, sizeof why)) {
        out = refuse(out_len, "EPERM", why);
    } else {
        struct ctl_reply r;
        ctl_handle(hv, &msg, &r);
        out = encode(r.json, r.data, r.data_len, out_len);
        json_decref(r.json);
        free(r.data);
    }
    json_decref(msg.json);
    return out;
}

void svc_serve(struct hv *hv)
{
    uint8_t *req;
    size_t len;
    uint64_t ticket;
    if (!hv->chan || !svcchan_take(hv->chan, &req, &len, &ticket))
        return;
    size_t out_len = 0;
    uint8_t *out = svc_answer(hv, req, len, &out_len);
    free(req);
    if (!out) { /* out of memory: an answer still goes back, or the service VM waits forever */
        static const char oom[] = "{\"ok\":false,\"code\":\"ENOMEM\",\"error\":\"out of memory\"}";
        struct vigil_ctl_header h = {VIGIL_CTL_MAGIC, VIGIL_CTL_VERSION, VIGIL_CTL_RESPONSE,
                                     sizeof oom - 1, 0};
        out = malloc(sizeof h + sizeof oom - 1);
        if (!out)
            hv_die("out of memory answering the service channel");
        memcpy(out, &h, sizeof h);
        memcpy(out + sizeof h, oom, sizeof oom - 1);
        out_len = sizeof h + sizeof oom - 1;
    }
    svcchan_answer(hv, ticket, out, out_len);
}
