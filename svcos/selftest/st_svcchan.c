/* st_svcchan.c: `--mode svcchan`, run as the service VM under hv with a guest: the service
 * channel end to end (hello, status, NV round trip, a snapshot of the guest read back through
 * snapshot.read and hashed, a refused operation, malformed requests, the event stream). */
#define _GNU_SOURCE
#include "selftest.h"
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svcchan.h>
#include <svcos.h>
#include <time.h>
#include <unistd.h>

/* Natively (selftest-native) there is no channel: the mode says so. */
#pragma weak svcchan_available
#pragma weak svcchan_call
#pragma weak svcchan_events
#pragma weak svcchan_wait_event
#pragma weak svcos_hv_time

#define CHUNK   (4u << 20)
#define BUF_CAP (CHUNK + SVCCHAN_ANSWER_OVERHEAD)

static uint8_t *buf;
static int failures;
static json_t *result;

/* One request; returns its answer's JSON (a new reference) or NULL; r has the payload. */
static json_t *call(const char *json, const void *data, size_t len, struct svcchan_reply *r)
{
    int rc = svcchan_call(json, strlen(json), data, len, buf, BUF_CAP, r);
    if (rc < 0) {
        printf("svcchan: %s: svcchan_call: %s\n", json, strerror(-rc));
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb(r->json, r->json_len, 0, &e);
    if (!j)
        printf("svcchan: %s: answer is not JSON: %s\n", json, e.text);
    return j;
}

static void check(const char *name, int ok, const char *fmt, ...)
{
    char detail[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("svcchan: %s %s%s%s\n", ok ? "ok" : "FAIL", name, detail[0] ? ": " : "", detail);
    json_object_set_new(json_object_get(result, "checks"), name, json_boolean(ok));
    failures += !ok;
}

static const char *code_of(json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "code"));
    return c ? c : "";
}

static void nv_round_trip(void)
{
    struct svcchan_reply r;
    uint8_t value[3000];
    for (size_t i = 0; i < sizeof value; i++)
        value[i] = (uint8_t)(i * 7 + 3);
    json_t *j = call("{\"op\":\"nv.put\",\"key\":\"selftest.record\"}", value, sizeof value, &r);
    int put = j && json_is_true(json_object_get(j, "ok"));
    json_decref(j);
    j = call("{\"op\":\"nv.get\",\"key\":\"selftest.record\"}", NULL, 0, &r);
    int got = j && json_is_true(json_object_get(j, "ok")) && r.data_len == sizeof value &&
              !memcmp(r.data, value, sizeof value);
    json_decref(j);
    j = call("{\"op\":\"nv.delete\",\"key\":\"selftest.record\"}", NULL, 0, &r);
    json_decref(j);
    j = call("{\"op\":\"nv.get\",\"key\":\"selftest.record\"}", NULL, 0, &r);
    int gone = j && !strcmp(code_of(j), "ENOENT");
    json_decref(j);
    check("nv", put && got && gone, "put %d, get %d, delete %d", put, got, gone);
}

/* MB/s of reading the core `id` (size bytes) through the channel, nothing else done with it:
 * the best of --bench passes (one by default). */
static double read_rate(const char *id, uint64_t size)
{
    double best = 0;
    for (int pass = 0; pass < (st_bench > 0 ? st_bench : 1); pass++) {
        double t0 = now_ms();
        uint64_t off = 0;
        while (off < size) {
            char req[160];
            snprintf(req, sizeof req,
                     "{\"op\":\"snapshot.read\",\"id\":\"%s\",\"offset\":%llu,\"len\":%u}", id,
                     (unsigned long long)off, CHUNK);
            struct svcchan_reply r;
            json_t *j = call(req, NULL, 0, &r);
            json_decref(j);
            if (!j || r.data_len == 0)
                return 0;
            off += r.data_len;
        }
        double ms = now_ms() - t0;
        double mbs = ms > 0 ? (double)size / 1e6 / (ms / 1e3) : 0;
        best = mbs > best ? mbs : best;
    }
    return best;
}

/* Takes a snapshot of the guest and reads its core back in CHUNK-sized calls. */
static void snapshot_read(void)
{
    struct svcchan_reply r;
    json_t *j = call("{\"op\":\"snapshot.take\",\"vm\":\"guest\"}", NULL, 0, &r);
    json_int_t job = json_integer_value(json_object_get(json_object_get(j, "job"), "id"));
    if (!j || !json_is_true(json_object_get(j, "ok"))) {
        check("snapshot_read", 0, "snapshot.take: %.200s", j ? r.json : "no answer");
        json_decref(j);
        return;
    }
    json_decref(j);
    char req[160], id[80] = "";
    for (int tries = 0; tries < 600 && !id[0]; tries++) {
        snprintf(req, sizeof req, "{\"op\":\"job\",\"id\":%lld}", (long long)job);
        j = call(req, NULL, 0, &r);
        json_t *jj = json_object_get(j, "job");
        const char *state = json_string_value(json_object_get(jj, "state"));
        if (state && !strcmp(state, "done"))
            snprintf(id, sizeof id, "%s", json_string_value(json_object_get(jj, "snapshot_id")));
        int failed = !state || !strcmp(state, "failed");
        json_decref(j);
        if (failed)
            break;
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    if (!id[0]) {
        check("snapshot_read", 0, "job %lld did not finish", (long long)job);
        return;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    uint64_t off = 0, size = 1;
    char want[80] = "";
    double t0 = now_ms();
    while (off < size) {
        snprintf(req, sizeof req,
                 "{\"op\":\"snapshot.read\",\"id\":\"%s\",\"offset\":%llu,\"len\":%u}", id,
                 (unsigned long long)off, CHUNK);
        j = call(req, NULL, 0, &r);
        if (!j || !json_is_true(json_object_get(j, "ok")) || r.data_len == 0) {
            json_decref(j);
            break;
        }
        size = (uint64_t)json_integer_value(json_object_get(j, "size"));
        snprintf(want, sizeof want, "%s", json_string_value(json_object_get(j, "sha256")));
        EVP_DigestUpdate(md, r.data, r.data_len);
        off += r.data_len;
        json_decref(j);
    }
    double ms = now_ms() - t0;
    /* The digest follows the core's durability: "pending" until hv has hashed it. */
    for (int tries = 0; tries < 600 && (!want[0] || !strcmp(want, "pending")); tries++) {
        snprintf(req, sizeof req, "{\"op\":\"snapshot.show\",\"id\":\"%s\"}", id);
        j = call(req, NULL, 0, &r);
        const char *sha =
            json_string_value(json_object_get(json_object_get(j, "snapshot"), "sha256"));
        snprintf(want, sizeof want, "%s", sha ? sha : "");
        json_decref(j);
        if (!strcmp(want, "pending"))
            nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    unsigned char d[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    EVP_MD_CTX_free(md);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    double mbs = ms > 0 ? (double)off / 1e6 / (ms / 1e3) : 0;
    json_object_set_new(result, "snapshot_bytes", json_integer((json_int_t)off));
    json_object_set_new(result, "read_hash_mb_per_s", json_real(mbs));
    json_object_set_new(result, "read_mb_per_s", json_real(read_rate(id, size)));
    check("snapshot_read", off == size && !strcmp(hex, want), "%llu of %llu bytes, %.0f MB/s, %s",
          (unsigned long long)off, (unsigned long long)size, mbs,
          strcmp(hex, want) ? "sha256 differs" : "sha256 matches");
}

static void refusals(void)
{
    struct svcchan_reply r;
    json_t *j = call("{\"op\":\"quit\"}", NULL, 0, &r);
    int quit = j && !strcmp(code_of(j), "EPERM");
    json_decref(j);
    j = call("{\"op\":\"service.detach\"}", NULL, 0, &r);
    int detach = j && !strcmp(code_of(j), "EPERM");
    json_decref(j);
    check("refused", quit && detach, "quit %d, service.detach %d", quit, detach);
    j = call("{\"op\": \"hello\", oops", NULL, 0, &r);
    int bad_json = j && !strcmp(code_of(j), "EINVAL");
    json_decref(j);
    j = call("[1,2]", NULL, 0, &r);
    int not_object = j && !strcmp(code_of(j), "EINVAL");
    json_decref(j);
    j = call("{\"op\":\"no.such.op\"}", NULL, 0, &r);
    int unknown = j && (!strcmp(code_of(j), "EPERM") || !strcmp(code_of(j), "ENOSYS"));
    json_decref(j);
    check("malformed", bad_json && not_object && unknown, "bad JSON %d, array %d, unknown op %d",
          bad_json, not_object, unknown);
}

/* A switch is recorded as an event: the WAIT for VIGIL_EV_CHANNEL wakes and `events` has it. */
static void events(void)
{
    struct svcchan_reply r;
    while (svcchan_wait_event(0)) /* forget what earlier calls announced */
        ;
    int rc = svcchan_events(0, 256, buf, BUF_CAP, &r);
    json_t *j = rc == 0 ? json_loadb(r.json, r.json_len, 0, NULL) : NULL;
    json_int_t last = json_integer_value(json_object_get(j, "last_seq"));
    int had_snapshot = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "events"), i, e) had_snapshot |=
        !strcmp(json_string_value(json_object_get(e, "kind")), "snapshot");
    json_decref(j);
    json_decref(call("{\"op\":\"switch\",\"target\":\"service\"}", NULL, 0, &r));
    int woke = 0, seen = 0;
    for (int tries = 0; tries < 50 && !seen; tries++) {
        uint64_t mono = 0;
        svcos_hv_time(NULL, &mono); /* WAIT's deadline is on hv's clock */
        woke |= svcchan_wait_event(mono + 200000000ull);
        rc = svcchan_events((uint64_t)last, 16, buf, BUF_CAP, &r);
        j = rc == 0 ? json_loadb(r.json, r.json_len, 0, NULL) : NULL;
        json_array_foreach(json_object_get(j, "events"), i, e) seen |=
            !strcmp(json_string_value(json_object_get(e, "kind")), "switch");
        json_decref(j);
    }
    check("events", had_snapshot && woke && seen, "snapshot event %d, woken %d, switch event %d",
          had_snapshot, woke, seen);
}

int run_svcchan(void)
{
    result = json_pack("{s:{}}", "checks");
    if (!svcchan_available || !svcos_hv_time || !svcchan_available()) {
        printf("svcchan: no service channel here (run as hv's service VM)\n");
        return 1;
    }
    buf = malloc(BUF_CAP);
    struct svcchan_reply r;
    json_t *j = call("{\"op\":\"hello\"}", NULL, 0, &r);
    check("hello", j && json_integer_value(json_object_get(j, "protocol")) == SVCCHAN_PROTOCOL,
          "%.100s", j ? r.json : "");
    json_decref(j);
    j = call("{\"op\":\"switch\",\"target\":\"guest\"}", NULL, 0, &r); /* boots the guest */
    json_decref(j);
    j = call("{\"op\":\"status\"}", NULL, 0, &r);
    check("status", j && json_array_size(json_object_get(j, "vms")) == 2, "%zu VMs",
          json_array_size(json_object_get(j, "vms")));
    json_decref(j);
    nv_round_trip();
    snapshot_read();
    refusals();
    events();
    json_object_set_new(result, "ok", json_boolean(!failures));
    char *line = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS);
    printf("SVCCHAN %s\n", line ? line : "{}");
    fflush(stdout);
    free(line);
    json_decref(result);
    free(buf);
    /* A service VM that returns is restarted by hv, and would run all this again: stay. */
    for (;;)
        sleep(3600);
}
