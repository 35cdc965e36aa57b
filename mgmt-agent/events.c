/* events.c: the event ring: ids, serialization of each record once, replay, subscribers. */
#include "events.h"

#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char boot[9];
static struct event ring[EVENTS_CAP]; /* ring[(seq - 1) % EVENTS_CAP] holds seq while kept */
static uint64_t last;
static uint64_t dropped; /* records lost to allocation failures */

static struct {
    events_fn fn;
    void *ctx;
} subs[EVENTS_SUBSCRIBERS];

void events_init(void)
{
    unsigned char b[4];
    if (RAND_bytes(b, sizeof b) != 1) /* still unique enough: the clock differs per start */
        memcpy(b, &(uint32_t){(uint32_t)time(NULL)}, 4);
    snprintf(boot, sizeof boot, "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

const char *events_boot(void)
{
    return boot;
}

void events_now(char *buf, size_t n)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    char s[32];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03ldZ", s, t.tv_nsec / 1000000);
}

uint64_t events_first(void)
{
    return last >= EVENTS_CAP ? last - EVENTS_CAP + 1 : 1;
}

uint64_t events_last(void)
{
    return last;
}

const struct event *events_get(uint64_t seq)
{
    if (seq == 0 || seq > last || seq < events_first())
        return NULL;
    const struct event *e = &ring[(seq - 1) % EVENTS_CAP];
    return e->json ? e : NULL;
}

uint64_t events_backlog(uint64_t seq)
{
    const struct event *newest = events_get(last), *at = events_get(seq);
    if (!newest)
        return 0;
    if (at)
        return newest->bytes_upto - at->bytes_upto;
    /* seq aged out (or 0): everything held counts */
    const struct event *oldest = events_get(events_first());
    return newest->bytes_upto - (oldest ? oldest->bytes_upto - oldest->json_len : 0);
}

int events_parse_id(const char *id, uint64_t *seq)
{
    size_t bl = strlen(boot);
    const char *dash = id ? strchr(id, '-') : NULL;
    if (!dash || dash == id || dash - id > 16 || !dash[1] || strlen(dash + 1) > 20 ||
        strspn(dash + 1, "0123456789") != strlen(dash + 1))
        return -1;
    if ((size_t)(dash - id) != bl || strncmp(id, boot, bl))
        return 1;
    *seq = strtoull(dash + 1, NULL, 10);
    return 0;
}

static void copy_str(char *dst, size_t n, json_t *v)
{
    snprintf(dst, n, "%s", json_is_string(v) ? json_string_value(v) : "");
}

uint64_t events_emit(json_t *record)
{
    if (!record)
        return 0;
    uint64_t seq = last + 1;
    char id[40], now[40];
    snprintf(id, sizeof id, "%s-%" PRIu64, boot, seq);
    json_object_set_new(record, "EventId", json_string(id));
    json_object_set_new(record, "MemberId", json_string("0"));
    if (!json_object_get(record, "EventTimestamp")) {
        events_now(now, sizeof now);
        json_object_set_new(record, "EventTimestamp", json_string(now));
    }
    json_t *ev = json_pack("{s:s, s:s, s:s, s:[O]}", "@odata.type", "#Event.v1_10_0.Event", "Id",
                           id, "Name", "Vigil event", "Events", record);
    char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(ev);
    if (!text) {
        json_decref(record);
        dropped++;
        return 0;
    }
    struct event *e = &ring[(seq - 1) % EVENTS_CAP];
    const struct event *prev = events_get(last);
    free(e->json);
    memset(e, 0, sizeof *e);
    e->seq = seq;
    snprintf(e->id, sizeof e->id, "%s", id);
    copy_str(e->type, sizeof e->type, json_object_get(record, "EventType"));
    copy_str(e->message_id, sizeof e->message_id, json_object_get(record, "MessageId"));
    copy_str(e->origin, sizeof e->origin,
             json_object_get(json_object_get(record, "OriginOfCondition"), "@odata.id"));
    e->json = text;
    e->json_len = strlen(text);
    e->bytes_upto = (prev ? prev->bytes_upto : 0) + e->json_len;
    last = seq;
    json_decref(record);
    for (int i = 0; i < EVENTS_SUBSCRIBERS; i++)
        if (subs[i].fn)
            subs[i].fn(subs[i].ctx, e);
    return seq;
}

int events_subscribe(events_fn fn, void *ctx)
{
    for (int i = 0; i < EVENTS_SUBSCRIBERS; i++)
        if (!subs[i].fn) {
            subs[i].fn = fn;
            subs[i].ctx = ctx;
            return i;
        }
    return -1;
}

void events_unsubscribe(int handle)
{
    if (handle >= 0 && handle < EVENTS_SUBSCRIBERS)
        subs[handle].fn = NULL, subs[handle].ctx = NULL;
}
