/* jobs.c: a small table of background jobs: clients poll long work instead of waiting on it. */
#include "base/jobs.h"

#include <stdio.h>
#include <string.h>

const char *job_state_name(enum job_state s)
{
    static const char *const names[] = {"running", "done", "failed"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void jobs_init(struct job_table *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->next_id = 1;
}

void jobs_destroy(struct job_table *t)
{
    pthread_mutex_destroy(&t->lock);
}

static struct hv_job *find(struct job_table *t, uint64_t id)
{
    for (int i = 0; id && i < JOBS_KEPT; i++)
        if (t->slots[i].id == id)
            return &t->slots[i];
    return NULL;
}

uint64_t jobs_start(struct job_table *t, const char *kind, const char *subject, uint64_t now_ns)
{
    pthread_mutex_lock(&t->lock);
    /* A free slot, else the one finished longest ago: a running job is never forgotten. */
    struct hv_job *slot = NULL;
    for (int i = 0; i < JOBS_KEPT; i++) {
        struct hv_job *j = &t->slots[i];
        if (!j->id) {
            slot = j;
            break;
        }
        if (j->state != JOB_RUNNING && (!slot || j->id < slot->id))
            slot = j;
    }
    uint64_t id = 0;
    if (slot) {
        id = t->next_id++;
        *slot = (struct hv_job){.id = id, .state = JOB_RUNNING, .start_ns = now_ns};
        snprintf(slot->kind, sizeof slot->kind, "%s", kind);
        snprintf(slot->subject, sizeof slot->subject, "%s", subject);
    }
    pthread_mutex_unlock(&t->lock);
    return id;
}

void jobs_finish(struct job_table *t, uint64_t id, const char *result, const char *error,
                 uint64_t now_ns)
{
    pthread_mutex_lock(&t->lock);
    struct hv_job *j = find(t, id);
    if (j && j->state == JOB_RUNNING) {
        j->state = error ? JOB_FAILED : JOB_DONE;
        j->end_ns = now_ns;
        snprintf(j->result, sizeof j->result, "%s", result && !error ? result : "");
        snprintf(j->error, sizeof j->error, "%s", error ? error : "");
    }
    pthread_mutex_unlock(&t->lock);
}

bool jobs_get(struct job_table *t, uint64_t id, struct hv_job *out)
{
    pthread_mutex_lock(&t->lock);
    struct hv_job *j = find(t, id);
    if (j)
        *out = *j;
    pthread_mutex_unlock(&t->lock);
    return j != NULL;
}
