/* thread.c: creates hv's worker threads and raises the main loop's scheduling class. */
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

int hv_thread_background(bool on)
{
    struct sched_param none = {.sched_priority = 0};
    return pthread_setschedparam(pthread_self(), on ? SCHED_IDLE : SCHED_OTHER, &none);
}

int hv_thread_realtime(void)
{
    struct sched_param p = {.sched_priority = 1};
    return pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
}
