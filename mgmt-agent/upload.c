/* upload.c: the uploader: finds new crash snapshots, keeps them in the outbox (pinned in hv),
 * sends one report at a time, and retries with backoff until the collector gives a receipt. */
#include "upload.h"
#include "events.h"
#include "evhv.h"
#include "hvlink.h"
#include "oem.h"
#include "outbox.h"
#include "upload_conn.h"
#include "upload_meta.h"

#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCAN_MS 5000 /* how often the snapshot list is compared with the outbox anyway */

static struct upload_config cfg;
static int cfg_loaded, ob_loaded;
static struct outbox ob;
static SSL_CTX *ctx;
static struct up_target target;
static char setup_error[256]; /* why nothing can be sent (bad URL, CA), "" when all is well */
static struct up_conn *conn;
static struct up_body *body;
static char flight[64]; /* the snapshot whose report is being sent, "" if none */
static int64_t next_scan;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sel(const char *severity, const char *vm, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void sel(const char *severity, const char *vm, const char *fmt, ...)
{
    char msg[201];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mgmt-agent: upload: %s\n", msg);
    json_t *r = hv_simple(json_pack("{s:s, s:s, s:s, s:s?}", "op", "sel.add", "severity", severity,
                                    "message", msg, "vm", vm));
    json_decref(r);
}

static void pin(const char *snap, int on)
{
    json_t *r =
        hv_simple(json_pack("{s:s, s:s, s:b}", "op", "snapshot.pin", "id", snap, "pinned", on));
    if (!hv_ok(r) && strcmp(hv_code(r), "ENOENT"))
        fprintf(stderr, "mgmt-agent: upload: cannot %spin snapshot %s: %s\n", on ? "" : "un", snap,
                json_string_value(json_object_get(r, "error")));
    json_decref(r);
}

static long metrics_queue(void)
{
    return (long)upload_queue_length(NULL);
}

/* The agent's event ring (evhv.c follows hv's stream for everyone): a snapshot written, or
 * events lost on the way, starts a scan at once. */
static void on_event(void *unused, const struct event *e)
{
    (void)unused;
    if (!strcmp(e->message_id, VIGIL_REG "SnapshotWritten") ||
        !strcmp(e->message_id, VIGIL_REG "HvEventsLost"))
        next_scan = 0;
}

struct upload_config *upload_config(void)
{
    if (!cfg_loaded) {
        upload_config_load(&cfg), cfg_loaded = 1;
        metrics_set_upload_queue(metrics_queue); /* /metrics: vigil_upload_queue_length */
        events_subscribe(on_event, NULL);
    }
    return &cfg;
}

void upload_reconfigure(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
    setup_error[0] = 0;
    if (!cfg.url[0])
        return;
    if (up_url_parse(cfg.url, cfg.connect_to, &target, setup_error, sizeof setup_error) == 0)
        ctx = up_tls_ctx(cfg.ca_pem, cfg.cert_pem, cfg.key_pem, setup_error, sizeof setup_error);
    if (setup_error[0])
        fprintf(stderr, "mgmt-agent: upload: not sending: %s\n", setup_error);
}

/* A finished report leaves the queue: its snapshot is no longer held for it. */
static void finish(struct ob_entry *e, enum ob_state st)
{
    e->state = st;
    char snap[64];
    snprintf(snap, sizeof snap, "%s", e->snap);
    outbox_save(&ob);
    pin(snap, 0);
}

/* The bounds: the oldest queued reports (not the one being sent) go first, each said in the SEL. */
static void enforce_bounds(void)
{
    uint64_t bytes, max_bytes = (uint64_t)cfg.max_mib << 20;
    for (size_t i = 0; i < ob.n;) {
        size_t n = outbox_queued(&ob, &bytes);
        if (n <= cfg.max_reports && bytes <= max_bytes)
            break;
        struct ob_entry *e = &ob.e[i++];
        if (e->state != OB_QUEUED || !strcmp(e->snap, flight))
            continue;
        snprintf(e->error, sizeof e->error,
                 "dropped: the outbox holds at most %u reports and %u MiB of cores",
                 cfg.max_reports, cfg.max_mib);
        sel("Warning", NULL,
            "crash report for snapshot %s dropped unsent: outbox full (%u reports, %u MiB at most)",
            e->snap, cfg.max_reports, cfg.max_mib);
        finish(e, OB_DROPPED);
    }
}

/* hv's snapshots against the outbox: new ones are queued (and saved, then pinned) before any
 * attempt; queued ones that hv no longer has are dropped. */
static void scan(void)
{
    char err[256];
    if (!ob_loaded) {
        if (outbox_load(&ob, err, sizeof err)) {
            fprintf(stderr, "mgmt-agent: upload: %s\n", err);
            return;
        }
        ob_loaded = 1;
        for (size_t i = 0; i < ob.n; i++) /* a crash may have come between save and pin */
            if (ob.e[i].state == OB_QUEUED)
                pin(ob.e[i].snap, 1);
    }
    json_t *rep = hv_simple(json_pack("{s:s}", "op", "snapshot.list")), *s;
    if (!hv_ok(rep)) {
        json_decref(rep);
        return;
    }
    json_t *list = json_object_get(rep, "snapshots");
    size_t i, added = 0;
    json_array_foreach(list, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (!id || strcmp(id, ob.hwm) <= 0 || outbox_find(&ob, id))
            continue;
        added += outbox_add(&ob, id, (uint64_t)json_integer_value(json_object_get(s, "core_bytes")),
                            wall_ms()) != NULL;
    }
    json_array_foreach(list, i, s)
    {
        /* hv --snapshot-pin-new pins every snapshot as it is written; one this outbox will
         * not send (older than hwm, or finished) is let go here. */
        const char *id = json_string_value(json_object_get(s, "id"));
        struct ob_entry *e = id ? outbox_find(&ob, id) : NULL;
        if (json_is_true(json_object_get(s, "pinned")) && (!e || e->state != OB_QUEUED))
            pin(id, 0);
    }
    for (size_t k = 0; k < ob.n; k++) {
        struct ob_entry *e = &ob.e[k];
        int held = 0;
        json_array_foreach(list, i, s) held |=
            !strcmp(e->snap, json_string_value(json_object_get(s, "id")));
        if (e->state == OB_QUEUED && !held && strcmp(e->snap, flight)) {
            snprintf(e->error, sizeof e->error, "dropped: snapshot %s was deleted unsent", e->snap);
            sel("Warning", NULL, "crash report for snapshot %s dropped: the snapshot was deleted",
                e->snap);
            e->state = OB_DROPPED;
            added = 1; /* save below */
        }
    }
    json_decref(rep);
    if (!added)
        return;
    outbox_trim(&ob);
    if (outbox_save(&ob) == 0) /* saved first: a pin without an entry would never be undone */
        for (size_t k = 0; k < ob.n; k++)
            if (ob.e[k].state == OB_QUEUED)
                pin(ob.e[k].snap, 1); /* idempotent: cheap for those pinned already */
    enforce_bounds();
}

static int64_t backoff_ms(unsigned attempts)
{
    double d = cfg.backoff_base;
    for (unsigned i = 1; i < attempts && d < cfg.backoff_cap; i++)
        d *= 2;
    if (d > cfg.backoff_cap)
        d = cfg.backoff_cap;
    unsigned r;
    RAND_bytes((unsigned char *)&r, sizeof r);
    return (int64_t)(d * 1000 * (0.5 + 0.5 * (r / 4294967296.0))); /* "equal jitter" */
}

/* An attempt ended: HTTP status (0 when there was no answer), Retry-After, the answer's body. */
static void attempt_done(struct ob_entry *e, int status, int retry_after, const char *answer,
                         const char *err)
{
    json_t *j = status ? json_loads(answer, 0, NULL) : NULL;
    const char *receipt = json_string_value(json_object_get(j, "receipt"));
    const char *why = json_string_value(json_object_get(j, "error"));
    flight[0] = 0;
    if (status >= 200 && status < 300 && receipt && *receipt && strlen(receipt) < 128) {
        snprintf(e->receipt, sizeof e->receipt, "%s", receipt);
        e->error[0] = 0;
        sel("OK", NULL, "crash report for snapshot %s uploaded: receipt %s", e->snap, e->receipt);
        finish(e, OB_ACKED);
    } else if (status >= 400 && status < 500 && status != 408 && status != 429) {
        snprintf(e->error, sizeof e->error, "the collector refused the report: %d %.140s", status,
                 why ? why : "");
        sel("Warning", NULL,
            "crash report for snapshot %s refused by the collector (%d): not retried", e->snap,
            status);
        finish(e, OB_REJECTED);
    } else {
        int64_t d = backoff_ms(e->attempts);
        if (retry_after >= 0 && (int64_t)retry_after * 1000 > d)
            d = (int64_t)(retry_after < 86400 ? retry_after : 86400) * 1000;
        if (status)
            snprintf(e->error, sizeof e->error, "the collector answered %d%s%.140s", status,
                     why ? ": " : (receipt ? "" : " without a receipt"), why ? why : "");
        else
            snprintf(e->error, sizeof e->error, "%s", err);
        e->next_ms = wall_ms() + d;
        fprintf(stderr, "mgmt-agent: upload: snapshot %s, attempt %u: %s; next in %.1f s\n",
                e->snap, e->attempts, e->error, d / 1000.0);
        outbox_save(&ob);
    }
    json_decref(j);
}

static void start(struct ob_entry *e)
{
    char err[256] = "";
    json_t *rep = hv_simple(json_pack("{s:s, s:s}", "op", "snapshot.show", "id", e->snap));
    json_t *s = json_object_get(rep, "snapshot");
    const char *sha = json_string_value(json_object_get(s, "sha256"));
    if (!hv_ok(rep) || !sha || strlen(sha) != 64) {
        if (hv_ok(rep) || strcmp(hv_code(rep), "ENOENT"))
            e->next_ms = wall_ms() + 200; /* the digest is pending, or hv is busy: soon */
        json_decref(rep);
        return;
    }
    json_t *meta = upload_metadata(e->uuid, s);
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    body = text ? up_body_new(e->snap, text,
                              (uint64_t)json_integer_value(json_object_get(s, "core_bytes")), sha)
                : NULL;
    free(text);
    json_decref(rep);
    char hdr[96];
    snprintf(hdr, sizeof hdr, "X-Vigil-Report: %s\r\n", e->uuid);
    e->attempts++;
    outbox_save(&ob);
    snprintf(flight, sizeof flight, "%s", e->snap);
    conn = body ? up_conn_start(ctx, &target, body, hdr, cfg.timeout_s, err, sizeof err) : NULL;
    if (!conn) {
        up_body_free(body);
        body = NULL;
        attempt_done(e, 0, -1, "", err[0] ? err : "out of memory");
    }
}

static int active(void)
{
    if (!upload_config()->url[0] || !cfg.enabled)
        return 0;
    if (!ctx && !setup_error[0])
        upload_reconfigure();
    return ctx != NULL;
}

int upload_poll(short *events, int64_t *timeout_ms)
{
    int64_t deadline, t = up_now_ms();
    if (conn) {
        int fd = up_conn_poll(conn, events, &deadline);
        if (deadline - t < *timeout_ms)
            *timeout_ms = deadline - t < 0 ? 0 : deadline - t;
        return fd;
    }
    if (!active())
        return -1;
    int64_t next = next_scan - t, w = wall_ms();
    for (size_t i = 0; i < ob.n; i++)
        if (ob.e[i].state == OB_QUEUED && ob.e[i].next_ms - w < next)
            next = ob.e[i].next_ms - w;
    if (next < *timeout_ms)
        *timeout_ms = next < 0 ? 0 : next;
    return -1;
}

void upload_run(void)
{
    char err[256] = "";
    if (conn) {
        int r = up_conn_step(conn, err, sizeof err);
        if (r == 0)
            return;
        struct ob_entry *e = outbox_find(&ob, flight);
        if (e)
            attempt_done(e, r > 0 ? up_conn_status(conn) : 0,
                         r > 0 ? up_conn_retry_after(conn) : -1, r > 0 ? up_conn_answer(conn) : "",
                         err);
        flight[0] = 0;
        up_conn_free(conn);
        up_body_free(body);
        conn = NULL, body = NULL;
    }
    if (!active())
        return;
    if (up_now_ms() >= next_scan) {
        next_scan = up_now_ms() + SCAN_MS;
        scan();
    }
    int64_t w = wall_ms();
    for (size_t i = 0; ob_loaded && !conn && i < ob.n; i++)
        if (ob.e[i].state == OB_QUEUED && ob.e[i].next_ms <= w) {
            start(&ob.e[i]);
            break;
        }
}

json_t *upload_entry_status(const char *snapshot_id)
{
    struct ob_entry *e = ob_loaded ? outbox_find(&ob, snapshot_id) : NULL;
    if (!e)
        return NULL;
    json_t *j = ob_entry_json(e);
    if (e->state == OB_QUEUED && !strcmp(flight, e->snap))
        json_object_set_new(j, "State", json_string("Sending"));
    return j;
}

unsigned upload_queue_length(uint64_t *bytes)
{
    return (unsigned)outbox_queued(&ob, bytes);
}

json_t *upload_status_json(void)
{
    uint64_t bytes;
    unsigned n = upload_queue_length(&bytes);
    return json_pack("{s:i, s:I, s:s?, s:s?}", "QueuedReports", (int)n, "QueuedBytes",
                     (json_int_t)bytes, "ConfigurationError", setup_error[0] ? setup_error : NULL,
                     "Sending", flight[0] ? flight : NULL);
}
