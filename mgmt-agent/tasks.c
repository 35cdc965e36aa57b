/* tasks.c: the task table: start, follow hv's job, complete (with its TaskEvent), expire. */
#include "tasks.h"
#include "events.h"
#include "hvlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TASKS "/redfish/v1/TaskService/Tasks/"
#define DUMPS "/redfish/v1/Managers/hv/LogServices/Dump/Entries/"

static struct task table[TASKS_MAX];
static int count;
static unsigned serial;
static int poked, subscribed; /* a snapshot event came: check running tasks now */
static int64_t next_check;

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_event(void *ctx, const struct event *e)
{
    (void)ctx;
    if (strstr(e->message_id, ".Snapshot"))
        poked = 1; /* a core written, hashed or failed: some task's job may have ended */
}

static void forget(int i)
{
    free(table[i].body);
    table[i] = table[--count];
}

struct task *task_start(const char *target, const json_t *body, const char *vm, uint64_t job)
{
    if (!subscribed)
        subscribed = events_subscribe(on_event, NULL) >= 0;
    if (count == TASKS_MAX) { /* make room: the task that ended first goes */
        int oldest = -1;
        for (int i = 0; i < count; i++)
            if (table[i].state != TASK_RUNNING &&
                (oldest < 0 || table[i].end_ms < table[oldest].end_ms))
                oldest = i;
        if (oldest < 0)
            return NULL;
        forget(oldest);
    }
    struct task *t = &table[count++];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s-%u", events_boot(), ++serial);
    snprintf(t->vm, sizeof t->vm, "%s", vm);
    snprintf(t->target, sizeof t->target, "%s", target);
    t->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    t->job = job;
    t->state = TASK_RUNNING;
    t->percent = 10;
    events_now(t->start, sizeof t->start);
    return t;
}

int tasks_room(void)
{
    for (int i = 0; i < count; i++)
        if (table[i].state != TASK_RUNNING)
            return 1;
    return count < TASKS_MAX;
}

struct task *task_find(const char *id)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(table[i].id, id))
            return &table[i];
    return NULL;
}

int task_count(void)
{
    return count;
}

struct task *task_at(int i)
{
    return i >= 0 && i < count ? &table[i] : NULL;
}

static void finish(struct task *t, enum task_state st, const char *error)
{
    t->state = st;
    t->percent = 100;
    events_now(t->end, sizeof t->end);
    t->end_ms = mono_ms();
    if (error)
        snprintf(t->error, sizeof t->error, "%s", error);
    char origin[200], msg[400], uri[200];
    snprintf(origin, sizeof origin, TASKS "%s", t->id);
    if (st == TASK_COMPLETED)
        snprintf(msg, sizeof msg, "The task with Id '%s' has completed: core %s of %s.", t->id,
                 t->snapshot, t->vm);
    else
        snprintf(msg, sizeof msg, "The task with Id '%s' has completed with errors: %s.", t->id,
                 t->error);
    json_t *rec = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s}, s:{s:{s:s, s:s}}}", "EventType", "StatusChange",
        "MessageId",
        st == TASK_COMPLETED ? "TaskEvent.1.0.TaskCompletedOK" : "TaskEvent.1.0.TaskAborted",
        "Message", msg, "Severity", st == TASK_COMPLETED ? "OK" : "Warning", "MessageSeverity",
        st == TASK_COMPLETED ? "OK" : "Warning", "MessageArgs", t->id, "OriginOfCondition",
        "@odata.id", origin, "Oem", "Vigil", "TaskState",
        st == TASK_COMPLETED ? "Completed" : "Exception", "VM", t->vm);
    if (rec && st == TASK_COMPLETED) {
        snprintf(uri, sizeof uri, DUMPS "%s/attachment", t->snapshot);
        json_object_set_new(rec, "AdditionalDataURI", json_string(uri));
    }
    events_emit(rec);
}

void task_refresh(struct task *t)
{
    if (t->state != TASK_RUNNING)
        return;
    json_t *rep = hv_simple(json_pack("{s:s, s:I}", "op", "job", "id", (json_int_t)t->job));
    json_t *job = json_object_get(rep, "job");
    const char *st = json_string_value(json_object_get(job, "state"));
    if (!hv_ok(rep) && !strcmp(hv_code(rep), "ELINK")) {
        /* hv unreachable for now: the task waits */
    } else if (!hv_ok(rep) || !st) {
        char why[300];
        snprintf(why, sizeof why, "hv no longer knows job %llu (%s)", (unsigned long long)t->job,
                 json_string_value(json_object_get(rep, "error")));
        finish(t, TASK_EXCEPTION, why);
    } else if (!strcmp(st, "failed")) {
        const char *err = json_string_value(json_object_get(job, "error"));
        finish(t, TASK_EXCEPTION, err ? err : "hv's job failed");
    } else if (!strcmp(st, "done")) {
        const char *sid = json_string_value(json_object_get(job, "snapshot_id"));
        const char *sha =
            json_string_value(json_object_get(json_object_get(job, "snapshot"), "sha256"));
        snprintf(t->snapshot, sizeof t->snapshot, "%s", sid ? sid : "");
        /* Done once the core is hashed too: then the entry's digest is final and the
         * attachment downloads (it answers 503 while hashing). */
        if (sha && strlen(sha) == 64)
            finish(t, TASK_COMPLETED, NULL);
        else if (!json_object_get(job, "snapshot"))
            finish(t, TASK_EXCEPTION, "the core was written but the store no longer has it");
        else
            t->percent = 80;
    }
    json_decref(rep);
}

int64_t tasks_tick(int64_t now_ms)
{
    int running = 0;
    for (int i = 0; i < count;)
        if (table[i].state != TASK_RUNNING && now_ms - table[i].end_ms > TASK_KEEP_S * 1000)
            forget(i);
        else
            running += table[i++].state == TASK_RUNNING;
    if (!running)
        return 60000;
    if (poked || now_ms >= next_check) {
        poked = 0;
        next_check = now_ms + TASK_CHECK_MS;
        for (int i = 0; i < count; i++)
            task_refresh(&table[i]);
    }
    return next_check - now_ms;
}
