/* awriter.c: queued writes to a slow fd from a thread of its own, so that no switch, request or
 * vCPU waits for the terminal (a 9p file in the nested machine: ~3 ms a write). */
#include "base/awriter.h"

#include "base/thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AWRITER_CAP 65536

struct awriter {
    int fd;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more; /* bytes queued, or closing */
    pthread_cond_t idle; /* the queue was emptied and written */
    bool busy, closing;
    size_t len;
    uint64_t dropped;
    char queue[AWRITER_CAP];
    char out[AWRITER_CAP]; /* the thread's copy, written without the lock */
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a terminal gone away: the bytes are lost, as a direct write's would be */
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    struct awriter *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->len && !w->closing)
            pthread_cond_wait(&w->more, &w->lock);
        if (!w->len)
            break;
        size_t n = w->len;
        memcpy(w->out, w->queue, n);
        w->len = 0;
        w->busy = true;
        pthread_mutex_unlock(&w->lock);
        write_all(w->fd, w->out, n);
        pthread_mutex_lock(&w->lock);
        w->busy = false;
        pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int awriter_open(struct awriter **out, int fd)
{
    struct awriter *w = calloc(1, sizeof *w);
    if (!w)
        return ENOMEM;
    w->fd = fd;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->more, NULL);
    pthread_cond_init(&w->idle, NULL);
    int rc = hv_thread_create(&w->thread, writer_main, w);
    if (rc) {
        pthread_cond_destroy(&w->idle);
        pthread_cond_destroy(&w->more);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void awriter_write(struct awriter *w, const void *buf, size_t len)
{
    pthread_mutex_lock(&w->lock);
    if (len > AWRITER_CAP - w->len) {
        w->dropped += len; /* whole, so that no line is cut short */
    } else {
        memcpy(w->queue + w->len, buf, len);
        w->len += len;
    }
    pthread_mutex_unlock(&w->lock);
    pthread_cond_signal(&w->more); /* no syscall unless the thread is waiting */
}

void awriter_flush(struct awriter *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->len || w->busy)
        pthread_cond_wait(&w->idle, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

uint64_t awriter_dropped(struct awriter *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t d = w->dropped;
    pthread_mutex_unlock(&w->lock);
    return d;
}

void awriter_close(struct awriter *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->closing = true;
    pthread_mutex_unlock(&w->lock);
    pthread_cond_signal(&w->more);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->more);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
