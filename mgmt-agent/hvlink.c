/* hvlink.c: transport-independent side of the hv link: framing, dispatch, the compat fallback. */
#include "hvlink.h"
#include "hvlink_impl.h"

#include <stdlib.h>
#include <string.h>
#include <vigil/ctlproto.h>

static const struct hvlink_ops *link_ops;
static void *link_ctx;
static const char *compat_dir;

void hvlink_install(const struct hvlink_ops *ops, void *ctx)
{
    link_ops = ops;
    link_ctx = ctx;
}

void hvlink_set_compat_dir(const char *dir)
{
    compat_dir = dir;
}

size_t hvlink_encode(const json_t *req, const void *data, size_t len, uint8_t **out)
{
    char *js = json_dumps(req, JSON_COMPACT);
    if (!js)
        return 0;
    size_t jl = strlen(js);
    if (jl == 0 || jl > VIGIL_CTL_JSON_MAX || len > VIGIL_CTL_DATA_MAX) {
        free(js);
        return 0;
    }
    struct vigil_ctl_header h = {VIGIL_CTL_MAGIC, VIGIL_CTL_VERSION, VIGIL_CTL_REQUEST,
                                 (uint32_t)jl, (uint32_t)len};
    uint8_t *buf = malloc(sizeof h + jl + len);
    if (!buf) {
        free(js);
        return 0;
    }
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, js, jl);
    if (len)
        memcpy(buf + sizeof h + jl, data, len);
    free(js);
    *out = buf;
    return sizeof h + jl + len;
}

int hvlink_decode(const uint8_t *hdr16, uint32_t *json_len, uint32_t *data_len)
{
    struct vigil_ctl_header h;
    memcpy(&h, hdr16, sizeof h);
    if (h.magic != VIGIL_CTL_MAGIC || h.version != VIGIL_CTL_VERSION ||
        h.kind != VIGIL_CTL_RESPONSE || h.json_len == 0 || h.json_len > VIGIL_CTL_JSON_MAX ||
        h.data_len > VIGIL_CTL_DATA_MAX)
        return -1;
    *json_len = h.json_len;
    *data_len = h.data_len;
    return 0;
}

int hv_ok(const json_t *reply)
{
    return json_is_true(json_object_get(reply, "ok"));
}

const char *hv_code(const json_t *reply)
{
    const char *c = json_string_value(json_object_get(reply, "code"));
    return c ? c : "";
}

int hv_call(const json_t *req, const void *data, size_t len, struct hv_reply *out)
{
    char err[200] = "no link to hv";
    memset(out, 0, sizeof *out);
    if (link_ops && link_ops->call(link_ctx, req, data, len, out, err, sizeof err) == 0) {
        const char *op = json_string_value(json_object_get(req, "op"));
        /* An hv without the NV store or snapshot reads: serve them from a local folder. */
        if (compat_dir && op && !hv_ok(out->json) && !strcmp(hv_code(out->json), "ENOSYS") &&
            hvlink_compat_handles(op)) {
            hv_reply_free(out);
            return hvlink_compat_call(compat_dir, req, data, len, out);
        }
        return 0;
    }
    out->json = json_pack("{s:b, s:s, s:s}", "ok", 0, "code", "ELINK", "error", err);
    return -1;
}

json_t *hv_simple(json_t *req)
{
    struct hv_reply r;
    hv_call(req, NULL, 0, &r);
    json_decref(req);
    free(r.data);
    return r.json;
}

void hv_reply_free(struct hv_reply *r)
{
    json_decref(r->json);
    free(r->data);
    r->json = NULL;
    r->data = NULL;
    r->data_len = 0;
}
