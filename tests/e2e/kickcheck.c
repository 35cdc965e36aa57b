/* kickcheck.c: an LD_PRELOAD shim for e2e tests: aborts hv if it signals a thread it has joined. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * hv kicks vCPU threads with pthread_kill; signalling a thread after pthread_join is undefined
 * (the handle may be freed or reused).  The shim remembers joined handles until a new thread
 * reuses them, and every pthread_kill first sleeps KICK_DELAY_NS: a kick that is not ordered
 * before the join (by a lock the joiner takes first) then lands after it, and is reported.
 */
#define KICK_DELAY_NS 2000000L
#define MAX_DEAD      4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t dead[MAX_DEAD];
static unsigned ndead;

static void *next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn)
        abort();
    return fn;
}

static void forget(pthread_t t)
{
    for (unsigned i = 0; i < ndead; i++)
        if (pthread_equal(dead[i], t))
            dead[i--] = dead[--ndead];
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real)
        real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))next(
            "pthread_create");
    pthread_mutex_lock(&mu);
    int rc = real(t, attr, fn, arg);
    if (rc == 0)
        forget(*t); /* a new thread may reuse a joined one's handle */
    pthread_mutex_unlock(&mu);
    return rc;
}

int pthread_join(pthread_t t, void **ret)
{
    static int (*real)(pthread_t, void **);
    if (!real)
        real = (int (*)(pthread_t, void **))next("pthread_join");
    int rc = real(t, ret);
    pthread_mutex_lock(&mu);
    if (rc == 0 && ndead < MAX_DEAD)
        dead[ndead++] = t;
    pthread_mutex_unlock(&mu);
    return rc;
}

int pthread_kill(pthread_t t, int sig)
{
    static int (*real)(pthread_t, int);
    if (!real)
        real = (int (*)(pthread_t, int))next("pthread_kill");
    struct timespec ts = {0, KICK_DELAY_NS};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&mu);
    bool joined = false;
    for (unsigned i = 0; i < ndead; i++)
        joined |= pthread_equal(dead[i], t) != 0;
    if (joined) {
        static const char msg[] = "kickcheck: pthread_kill of a joined thread\n";
        ssize_t w = write(2, msg, strlen(msg));
        (void)w;
        abort();
    }
    int rc = real(t, sig);
    pthread_mutex_unlock(&mu);
    return rc;
}
