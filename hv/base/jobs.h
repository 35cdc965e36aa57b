/* jobs.h: work that outlasts a control request (a snapshot write) is a job clients poll by id. */
#ifndef HV_JOBS_H
#define HV_JOBS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define JOBS_KEPT       32 /* finished jobs are forgotten oldest first beyond this */
#define JOB_SUBJECT_MAX 32
#define JOB_RESULT_MAX  64
#define JOB_ERROR_MAX   256

enum job_state { JOB_RUNNING, JOB_DONE, JOB_FAILED };
const char *job_state_name(enum job_state s);

struct hv_job {
    uint64_t id; /* 0: a free slot */
    enum job_state state;
    char kind[16];                 /* "snapshot" */
    char subject[JOB_SUBJECT_MAX]; /* what it works on: a VM's name */
    char result[JOB_RESULT_MAX];   /* done: what it made (a snapshot id) */
    char error[JOB_ERROR_MAX];     /* failed: why */
    uint64_t start_ns, end_ns;     /* CLOCK_MONOTONIC */
};

/* Written by the thread a job runs on, read by the main loop: one leaf lock (docs/hv-layout.md,
 * "Locks"). */
struct job_table {
    pthread_mutex_t lock;
    uint64_t next_id;
    struct hv_job slots[JOBS_KEPT];
};

void jobs_init(struct job_table *t);
void jobs_destroy(struct job_table *t);
/* Records a running job; returns its id (>= 1), or 0 when JOBS_KEPT jobs are all still running. */
uint64_t jobs_start(struct job_table *t, const char *kind, const char *subject, uint64_t now_ns);
/* Ends a running job: done with result, or failed with error (error non-NULL). */
void jobs_finish(struct job_table *t, uint64_t id, const char *result, const char *error,
                 uint64_t now_ns);
/* Copies job id into *out; false if there is none (never started, or forgotten). */
bool jobs_get(struct job_table *t, uint64_t id, struct hv_job *out);

#endif
