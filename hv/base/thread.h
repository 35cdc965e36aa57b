/* thread.h: hv's threads: ordinary time-sharing workers, and a real-time main loop where allowed.
 */
#ifndef HV_THREAD_H
#define HV_THREAD_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* pthread_create with SCHED_OTHER set explicitly, so that no worker (above
 * all no vCPU spinning in a guest) inherits the main loop's real-time class. */
int hv_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* Gives the calling thread SCHED_FIFO priority 1 if the process may (root or
 * CAP_SYS_NICE): a control request then preempts a CPU-bound guest's vCPU
 * instead of waiting for the next scheduler tick.  Returns 0 when applied. */
int hv_thread_realtime(void);

/* Initialises a condvar whose timed waits run on CLOCK_MONOTONIC: a step of the wall clock
 * (NTP, an operator's date) must neither end hv's waits early nor stretch them without
 * bound.  Returns 0 or an errno.  Pair it with hv_deadline_ns. */
int hv_cond_init_monotonic(pthread_cond_t *c);

/* The CLOCK_MONOTONIC time timeout_ns from now: the deadline for pthread_cond_timedwait on a
 * condvar made by hv_cond_init_monotonic. */
struct timespec hv_deadline_ns(uint64_t timeout_ns);

#endif
