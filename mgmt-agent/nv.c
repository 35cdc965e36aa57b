/* nv.c: the NV store's get and put through the hv link (ops nv.get, nv.put). */
#include "nv.h"
#include "hvlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nv_get(const char *key, uint8_t **data, size_t *len)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "nv.get", "key", key);
    struct hv_reply r;
    int rc = hv_call(req, NULL, 0, &r);
    json_decref(req);
    if (rc == 0 && hv_ok(r.json)) {
        *data = malloc(r.data_len + 1);
        if (!*data) {
            hv_reply_free(&r);
            return -1;
        }
        if (r.data_len)
            memcpy(*data, r.data, r.data_len);
        (*data)[r.data_len] = 0;
        *len = r.data_len;
        hv_reply_free(&r);
        return 0;
    }
    rc = rc == 0 && !strcmp(hv_code(r.json), "ENOENT") ? 1 : -1;
    if (rc < 0)
        fprintf(stderr, "mgmt-agent: nv.get %s: %s\n", key,
                json_string_value(json_object_get(r.json, "error")));
    hv_reply_free(&r);
    return rc;
}

int nv_put(const char *key, const void *data, size_t len)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "nv.put", "key", key);
    struct hv_reply r;
    int rc = hv_call(req, data, len, &r);
    json_decref(req);
    rc = rc == 0 && hv_ok(r.json) ? 0 : -1;
    if (rc)
        fprintf(stderr, "mgmt-agent: nv.put %s: %s\n", key,
                json_string_value(json_object_get(r.json, "error")));
    hv_reply_free(&r);
    return rc;
}

int nv_put_json(const char *key, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = text ? nv_put(key, text, strlen(text)) : -1;
    free(text);
    return rc;
}
