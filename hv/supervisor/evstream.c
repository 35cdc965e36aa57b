/* evstream.c: the event stream's ring: fixed size, sequence numbers, reads after a sequence. */
#include "supervisor/evstream.h"

#include "base/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct ev {
    uint64_t seq;
    int64_t time_ns; /* CLOCK_REALTIME */
    uint64_t sel_id;
    enum sel_severity sev;
    enum sel_type type;
    char vm[SEL_VM_MAX];
    char message[SEL_MSG_MAX];
};

struct evstream {
    pthread_mutex_t mu; /* everything below (a leaf: nothing is taken under it) */
    uint64_t last_seq;  /* events[(seq - 1) % EVSTREAM_CAP] holds seq while it is kept */
    struct ev events[EVSTREAM_CAP];
};

struct evstream *evstream_new(void)
{
    struct evstream *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

void evstream_free(struct evstream *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *evstream_kind(enum sel_type type)
{
    switch (type) {
    case SEL_T_VM_SWITCH:
        return "switch";
    case SEL_T_VM_CRASH:
    case SEL_T_TRAP:
    case SEL_T_WATCHDOG:
        return "crash";
    case SEL_T_SNAPSHOT:
        return "snapshot";
    case SEL_T_SENSOR_TEMP:
    case SEL_T_SENSOR_VOLTAGE:
    case SEL_T_SENSOR_FAN:
    case SEL_T_SENSOR_OTHER:
        return "sensor";
    default:
        return "sel";
    }
}

uint64_t evstream_push(struct evstream *s, uint64_t sel_id, enum sel_severity sev,
                       enum sel_type type, const char *vm, const char *message)
{
    int64_t t = (int64_t)wall_ns();
    pthread_mutex_lock(&s->mu);
    uint64_t seq = ++s->last_seq;
    struct ev *e = &s->events[(seq - 1) % EVSTREAM_CAP];
    *e = (struct ev){.seq = seq, .time_ns = t, .sel_id = sel_id, .sev = sev, .type = type};
    snprintf(e->vm, sizeof e->vm, "%s", vm ? vm : "");
    snprintf(e->message, sizeof e->message, "%s", message);
    pthread_mutex_unlock(&s->mu);
    return seq;
}

static json_t *ev_json(const struct ev *e)
{
    char when[40];
    sel_format_time(e->time_ns, when, sizeof when);
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "seq", (json_int_t)e->seq, "time",
                     when, "kind", evstream_kind(e->type), "type", sel_type_name(e->type),
                     "severity", sel_severity_name(e->sev), "vm", e->vm, "message", e->message,
                     "sel_id", (json_int_t)e->sel_id);
}

json_t *evstream_read(struct evstream *s, uint64_t after, unsigned max)
{
    if (max == 0 || max > EVSTREAM_READ_MAX)
        max = EVSTREAM_READ_MAX;
    json_t *list = json_array();
    pthread_mutex_lock(&s->mu);
    uint64_t last = s->last_seq;
    uint64_t first = last > EVSTREAM_CAP ? last - EVSTREAM_CAP + 1 : 1;
    uint64_t from = after + 1 > first ? after + 1 : first;
    for (uint64_t seq = from; list && seq <= last && json_array_size(list) < max; seq++)
        if (json_array_append_new(list, ev_json(&s->events[(seq - 1) % EVSTREAM_CAP])) < 0) {
            json_decref(list);
            list = NULL;
        }
    pthread_mutex_unlock(&s->mu);
    if (!list)
        return NULL;
    return json_pack("{s:o, s:I, s:I, s:b}", "events", list, "first_seq",
                     (json_int_t)(last ? first : 0), "last_seq", (json_int_t)last, "lost",
                     after + 1 < first && last > 0);
}
