/* ctl_proto.c: control-protocol framing; every length is checked before it is trusted. */
#include "control/ctl_proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctl_parse ctl_parse(const uint8_t *buf, size_t len, struct ctl_msg *msg, size_t *used,
                         char *err, size_t errlen)
{
    struct vigil_ctl_header h;
    if (len < sizeof h)
        return CTL_PARSE_NEED_MORE;
    memcpy(&h, buf, sizeof h);
    if (h.magic != VIGIL_CTL_MAGIC) {
        snprintf(err, errlen, "bad magic 0x%08x (expected 0x%08x)", h.magic, VIGIL_CTL_MAGIC);
        return CTL_PARSE_BAD_FRAME;
    }
    if (h.version != VIGIL_CTL_VERSION) {
        snprintf(err, errlen, "protocol version %u is not supported (this side speaks %u)",
                 h.version, VIGIL_CTL_VERSION);
        return CTL_PARSE_BAD_FRAME;
    }
    if (h.kind != VIGIL_CTL_REQUEST && h.kind != VIGIL_CTL_RESPONSE) {
        snprintf(err, errlen, "unknown message kind %u", h.kind);
        return CTL_PARSE_BAD_FRAME;
    }
    if (h.json_len == 0 || h.json_len > VIGIL_CTL_JSON_MAX) {
        snprintf(err, errlen, "JSON length %u outside 1..%u", h.json_len, VIGIL_CTL_JSON_MAX);
        return CTL_PARSE_BAD_FRAME;
    }
    if (h.data_len > VIGIL_CTL_DATA_MAX) {
        snprintf(err, errlen, "data length %u exceeds %u", h.data_len, VIGIL_CTL_DATA_MAX);
        return CTL_PARSE_BAD_FRAME;
    }
    size_t total = sizeof h + (size_t)h.json_len + h.data_len;
    if (len < total)
        return CTL_PARSE_NEED_MORE;
    *used = total;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)buf + sizeof h, h.json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j || !json_is_object(j)) {
        snprintf(err, errlen, "invalid JSON: %s", j ? "not an object" : jerr.text);
        json_decref(j);
        return CTL_PARSE_BAD_JSON;
    }
    msg->kind = h.kind;
    msg->json = j;
    msg->data = buf + sizeof h + h.json_len;
    msg->data_len = h.data_len;
    return CTL_PARSE_OK;
}

size_t ctl_encode(uint16_t kind, const json_t *json, const void *data, uint32_t data_len,
                  uint8_t **out)
{
    char *text = json_dumps(json, JSON_COMPACT);
    if (!text)
        return 0;
    size_t jlen = strlen(text);
    if (jlen > VIGIL_CTL_JSON_MAX || data_len > VIGIL_CTL_DATA_MAX) {
        free(text);
        return 0;
    }
    struct vigil_ctl_header h = {.magic = VIGIL_CTL_MAGIC,
                                 .version = VIGIL_CTL_VERSION,
                                 .kind = kind,
                                 .json_len = (uint32_t)jlen,
                                 .data_len = data_len};
    size_t total = sizeof h + jlen + data_len;
    uint8_t *buf = malloc(total);
    if (buf) {
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, text, jlen);
        if (data_len)
            memcpy(buf + sizeof h + jlen, data, data_len);
    }
    free(text);
    *out = buf;
    return buf ? total : 0;
}

json_t *ctl_error(const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "code", code);
}
