/* tasks.h: the TaskService's tasks: long operations (hv jobs) a client follows through a task
 * monitor; bounded in number, forgotten a while after they end. */
#ifndef AGENT_TASKS_H
#define AGENT_TASKS_H

#include <jansson.h>
#include <stdint.h>

#define TASKS_MAX     32
#define TASK_KEEP_S   600 /* a finished task is kept this long after its EndTime */
#define TASK_CHECK_MS 500 /* running tasks ask hv about their job this often (or on an event) */

enum task_state { TASK_RUNNING, TASK_COMPLETED, TASK_EXCEPTION };

struct task {
    char id[40]; /* "<boot>-<n>": a restarted agent never answers for an old task */
    enum task_state state;
    int percent;
    uint64_t job; /* hv's job */
    char vm[64];
    char target[200]; /* the action's URI, for Payload */
    char *body;       /* the request's JSON body (compact), owned */
    char start[40], end[40];
    int64_t end_ms;    /* monotonic, for expiry */
    char snapshot[80]; /* the core hv wrote (done) */
    char error[300];   /* why it failed (exception) */
};

/* A running task for hv job `job`, or NULL when TASKS_MAX tasks are running. */
struct task *task_start(const char *target, const json_t *body, const char *vm, uint64_t job);
/* Whether task_start would succeed (not TASKS_MAX running). */
int tasks_room(void);
struct task *task_find(const char *id);
int task_count(void);
struct task *task_at(int i);
/* Asks hv how the task's job is doing; a task that ended emits its TaskEvent record. */
void task_refresh(struct task *t);
/* Refreshes running tasks (soon after a snapshot event, else every TASK_CHECK_MS) and expires
 * old ones; returns ms until it is due again. */
int64_t tasks_tick(int64_t now_ms);

#endif
