/* subs_push.c: delivers the event ring's records to push subscriptions: one HTTPS POST at a time
 * per subscription with the uploader's client (upload_conn.c), retried DeliveryRetryAttempts
 * times DeliveryRetryIntervalSeconds apart, then the subscription is suspended. */
#include "conn.h"
#include "events.h"
#include "evhv.h"
#include "hvlink.h"
#include "subs.h"
#include "upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t now(void)
{
    return up_now_ms();
}

static void pop(struct sub *s)
{
    free(s->queue[s->qhead]);
    s->queue[s->qhead] = NULL;
    s->qhead = (s->qhead + 1) % SUBS_QUEUE;
    s->qlen--;
}

static void end_attempt(struct sub *s)
{
    up_conn_free(s->conn);
    up_body_free(s->body);
    s->conn = NULL, s->body = NULL;
}

void subs_push_forget(struct sub *s)
{
    end_attempt(s);
    while (s->qlen)
        pop(s);
    s->attempts = 0;
}

void subs_push_resume(struct sub *s)
{
    s->attempts = 0, s->next_ms = 0;
    s->last_error[0] = 0;
}

/* The ring's Event with this subscription's Context added (Event.Context echoes it). */
static void enqueue(struct sub *s, const struct event *e)
{
    json_t *j = json_loadb(e->json, e->json_len, 0, NULL);
    if (!j)
        return;
    json_object_set_new(j, "Context", json_string(s->context));
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (!text)
        return;
    if (s->qlen == SUBS_QUEUE && s->conn) { /* full, its head in flight: this one is lost */
        free(text);
        s->dropped++;
        return;
    }
    if (s->qlen == SUBS_QUEUE) { /* full: the oldest goes */
        pop(s);
        s->dropped++;
    }
    s->queue[(s->qhead + s->qlen++) % SUBS_QUEUE] = text;
}

static void on_event(void *ctx, const struct event *e)
{
    (void)ctx;
    /* The readings are a plot feed that exists only while an SSE stream is open (evsensors.c):
     * a listener would get them or not depending on whether a dashboard is open. */
    if (!strcmp(e->message_id, VIGIL_REG "SensorReadings"))
        return;
    for (int i = 0; i < SUBS_MAX; i++)
        if (subs[i].used && !subs[i].suspended && subs_wants(&subs[i], e->message_id))
            enqueue(&subs[i], e);
}

static void sel_note(const char *msg)
{
    fprintf(stderr, "mgmt-agent: events: %s\n", msg);
    json_decref(hv_simple(
        json_pack("{s:s, s:s, s:s}", "op", "sel.add", "severity", "Warning", "message", msg)));
}

/* An attempt failed: again after the interval, or the subscription is suspended for good. */
static void failed(struct sub *s, const char *why)
{
    snprintf(s->last_error, sizeof s->last_error, "%s", why);
    s->attempts++;
    if (s->attempts <= subs_cfg.retry_attempts) {
        s->next_ms = now() + (int64_t)subs_cfg.retry_interval_s * 1000;
        return;
    }
    unsigned tries = s->attempts;
    char msg[201];
    snprintf(msg, sizeof msg, "event subscription %u suspended after %u failed deliveries to %.80s",
             s->id, tries, s->dest);
    s->suspended = 1;
    subs_push_forget(s);
    s->attempts = tries;
    subs_save(); /* a restart keeps it suspended: an operator resumes it */
    sel_note(msg);
}

static void start(struct sub *s)
{
    char err[256] = "";
    struct up_target t;
    const struct upload_config *c = upload_config();
    SSL_CTX *ctx = NULL;
    if (up_url_parse(s->dest, "", &t, err, sizeof err) == 0)
        ctx = up_tls_ctx(c->ca_pem, c->cert_pem, c->key_pem, err, sizeof err);
    if (!ctx)
        return failed(s, err);
    if (!strchr(s->dest + 8, '/'))
        snprintf(t.path, sizeof t.path, "/"); /* no path: the root, not the uploader's default */
    s->body = up_body_text("application/json", s->queue[s->qhead]);
    s->conn = s->body ? up_conn_start(ctx, &t, s->body, "", c->timeout_s, err, sizeof err) : NULL;
    SSL_CTX_free(ctx); /* the connection's SSL holds its own reference */
    if (!s->conn) {
        end_attempt(s);
        failed(s, err[0] ? err : "out of memory");
    }
}

static void step(struct sub *s)
{
    char err[256] = "";
    int r = up_conn_step(s->conn, err, sizeof err);
    if (r == 0)
        return;
    int status = r > 0 ? up_conn_status(s->conn) : 0;
    end_attempt(s);
    if (status >= 200 && status < 300) {
        pop(s);
        s->delivered++;
        s->attempts = 0, s->next_ms = 0;
        s->last_error[0] = 0;
        return;
    }
    if (status)
        snprintf(err, sizeof err, "the destination answered %d", status);
    failed(s, err);
}

static void fds(void (*add)(int fd, short events))
{
    for (int i = 0; i < SUBS_MAX; i++)
        if (subs[i].conn) {
            short ev = 0;
            int64_t deadline;
            int fd = up_conn_poll(subs[i].conn, &ev, &deadline);
            add(fd, ev);
        }
}

static int64_t timeout(int64_t now_ms)
{
    (void)now_ms;
    int64_t t = -1, n = now();
    for (int i = 0; i < SUBS_MAX; i++) {
        struct sub *s = &subs[i];
        int64_t due = -1;
        short ev;
        if (s->conn)
            up_conn_poll(s->conn, &ev, &due);
        else if (s->used && s->qlen && !s->suspended)
            due = s->next_ms;
        if (due >= 0 && (t < 0 || due - n < t))
            t = due - n < 0 ? 0 : due - n;
    }
    return t;
}

static void run(int64_t now_ms)
{
    (void)now_ms;
    for (int i = 0; i < SUBS_MAX; i++) {
        struct sub *s = &subs[i];
        if (s->conn)
            step(s);
        else if (s->used && s->qlen && !s->suspended && now() >= s->next_ms)
            start(s);
    }
}

static void stop(void)
{
    for (int i = 0; i < SUBS_MAX; i++)
        subs_push_forget(&subs[i]);
}

static const struct loop_hook hook = {fds, timeout, run, stop};

void subs_push_init(void)
{
    if (subs_load())
        fprintf(stderr, "mgmt-agent: events: cannot read the subscriptions from hv's NV store\n");
    events_subscribe(on_event, NULL);
    conn_add_hook(&hook);
}
