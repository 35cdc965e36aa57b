/* SEL append throughput: durable (1 and N threads, group commit) vs page-cache-only appends. */
/* Built by `make all` into build/bench/; run: build/bench/sel_bench [dir] */
#include "bmc/sel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct job {
    struct sel *s;
    int n;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    struct job *j = arg;
    for (int i = 0; i < j->n; i++)
        sel_append(j->s, SEL_OK, SEL_T_ACTION, "guest", "bench entry %d", i);
    return NULL;
}

static void run(const char *dir, const char *what, bool durable, int threads, int per_thread)
{
    char path[512], err[256];
    struct sel *s;
    pthread_t th[64];
    struct job j;

    snprintf(path, sizeof(path), "%s/sel-bench.bin", dir);
    unlink(path);
    if (sel_open(&s, path, SEL_DEFAULT_CAP, err, sizeof(err))) {
        fprintf(stderr, "sel_open: %s\n", err);
        exit(1);
    }
    sel_set_durable(s, durable);
    j = (struct job){s, per_thread};
    double t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, &j);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double dt = now() - t0;
    int total = threads * per_thread;
    printf("%-34s %7d appends in %6.3f s: %9.0f appends/s, %8.1f us each\n", what, total, dt,
           total / dt, dt * 1e6 / total);
    sel_close(s);
    unlink(path);
}

/* Recovery cost: reopening a full ring reads and CRC-checks every record. */
static void reopen(const char *dir, uint32_t cap)
{
    char path[512], err[256];
    struct sel *s;

    snprintf(path, sizeof(path), "%s/sel-bench.bin", dir);
    unlink(path);
    if (sel_open(&s, path, cap, err, sizeof(err)))
        exit(1);
    sel_set_durable(s, false);
    for (uint32_t i = 0; i < cap; i++)
        sel_append(s, SEL_OK, SEL_T_ACTION, "guest", "bench entry %u with some text", i);
    sel_close(s);
    double t0 = now();
    if (sel_open(&s, path, cap, err, sizeof(err)))
        exit(1);
    printf("reopen full ring of %6u entries (%5.1f MiB): %6.1f ms\n", cap,
           (512.0 + 512.0 * cap) / 1048576, (now() - t0) * 1e3);
    sel_close(s);
    unlink(path);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    reopen(dir, SEL_DEFAULT_CAP);
    reopen(dir, SEL_MAX_CAP);
    run(dir, "durable, 1 thread (fdatasync each)", true, 1, 2000);
    run(dir, "durable, 8 threads (group commit)", true, 8, 500);
    run(dir, "page cache only, 1 thread", false, 1, 200000);
    return 0;
}
