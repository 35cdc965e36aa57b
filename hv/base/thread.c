/* thread.c: hv's worker threads, the main loop's scheduling class, and monotonic timed waits. */
#include "base/thread.h"

#include <sched.h>

int hv_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
    struct sched_param none = {.sched_priority = 0};
    pthread_attr_setschedparam(&attr, &none);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

int hv_thread_realtime(void)
{
    struct sched_param p = {.sched_priority = 1};
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
}

int hv_cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc)
        return rc;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!rc)
        rc = pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

struct timespec hv_deadline_ns(uint64_t timeout_ns)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(timeout_ns / 1000000000u);
    t.tv_nsec += (long)(timeout_ns % 1000000000u);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}
