/* res_metrics.c: GET /metrics, the Prometheus text exposition for scrapers. hv formats all it
 * measures (its metrics op: sensors under node_exporter's hwmon names, then its own counters);
 * the agent passes that on unchanged and appends only what the agent itself owns. */
#include "auth.h"
#include "hvlink.h"
#include "oem.h"
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long (*upload_queue)(void);

void metrics_set_upload_queue(long (*queue_length)(void))
{
    upload_queue = queue_length;
}

int metrics_wants(const struct req *q)
{
    return q->nsegs == 1 && !strcmp(q->segs[0], "metrics");
}

void metrics_serve(struct req *q, struct resp *r)
{
    r->allow = M_GET | M_HEAD;
    if (!(q->method & (M_GET | M_HEAD)))
        return resp_error(r, 405, "OperationNotAllowed", "%s is not allowed on /metrics",
                          method_name(q->method));
    /* A scraper is a reader: Login (every role) is enough. */
    if (auth_request(q, r))
        return;
    if (!(q->privs & P_LOGIN))
        return resp_error(r, 403, "InsufficientPrivilege", "/metrics needs the Login privilege");
    json_t *req = json_pack("{s:s}", "op", "metrics");
    struct hv_reply rep = {0};
    hv_call(req, NULL, 0, &rep);
    json_decref(req);
    if (!hv_ok(rep.json)) {
        hv_error(r, rep.json);
        hv_reply_free(&rep);
        return;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        hv_reply_free(&rep);
        return resp_error(r, 500, "GeneralError", "out of memory");
    }
    if (rep.data_len)
        fwrite(rep.data, 1, rep.data_len, f);
    hv_reply_free(&rep);
    long queued = upload_queue ? upload_queue() : -1;
    if (queued >= 0)
        fprintf(f,
                "# HELP vigil_upload_queue_length Crash snapshots waiting in the upload outbox\n"
                "# TYPE vigil_upload_queue_length gauge\nvigil_upload_queue_length %ld\n",
                queued);
    if (fclose(f) || !buf) {
        free(buf);
        return resp_error(r, 500, "GeneralError", "out of memory");
    }
    r->status = 200;
    r->raw = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r->raw, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}
