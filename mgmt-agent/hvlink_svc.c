/* hvlink_svc.c: the hv link inside the service VM: the service channel (SVC_CALL hypercall). */
#include "hvlink_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svcchan.h>

/* One answer buffer, grown to the largest answer seen (a 4 MiB core chunk and its JSON). */
static uint8_t *buf;
static size_t cap;

static int grow(size_t need)
{
    if (need <= cap)
        return 0;
    uint8_t *nb = realloc(buf, need);
    if (!nb)
        return -1;
    buf = nb;
    cap = need;
    return 0;
}

static int svc_call(void *ctx, const json_t *req, const void *data, size_t len,
                    struct hv_reply *out, char *err, size_t errlen)
{
    (void)ctx;
    char *js = json_dumps(req, JSON_COMPACT);
    if (!js || grow(SVCCHAN_ANSWER_OVERHEAD + 64 * 1024)) {
        free(js);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct svcchan_reply r;
    int rc = svcchan_call(js, strlen(js), data, len, buf, cap, &r);
    free(js);
    if (rc == -E2BIG && r.needed > cap && grow(r.needed) == 0)
        rc = svcchan_collect(buf, cap, &r);
    if (rc) {
        snprintf(err, errlen, "service channel: %s", strerror(-rc));
        return -1;
    }
    out->json = json_loadb(r.json, r.json_len, 0, NULL);
    out->data = r.data_len ? malloc(r.data_len) : NULL;
    if (!json_is_object(out->json) || (r.data_len && !out->data)) {
        json_decref(out->json);
        free(out->data);
        out->json = NULL;
        out->data = NULL;
        snprintf(err, errlen, "service channel: a malformed answer");
        return -1;
    }
    if (r.data_len)
        memcpy(out->data, r.data, r.data_len);
    out->data_len = r.data_len;
    return 0;
}

static const struct hvlink_ops svc_ops = {.call = svc_call};

int hvlink_open(const char *where, char *err, size_t errlen)
{
    (void)where;
    if (!svcchan_available()) {
        snprintf(err, errlen, "hv offers this VM no service channel (is it the service VM?)");
        return -1;
    }
    hvlink_install(&svc_ops, NULL);
    return 0;
}
