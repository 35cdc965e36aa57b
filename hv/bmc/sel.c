/* System event log: thread-safe appends with group-committed fdatasync, reads, waits, clear. */
#include "bmc/sel.h"
#include "base/thread.h"
#include "bmc/sel_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* Copy src as valid UTF-8 without control characters; never split a multi-byte sequence. */
static size_t sanitize(char *dst, size_t cap, const char *src)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t o = 0;

    while (*p) {
        size_t n = 1;
        uint32_t cp = *p;
        if (cp >= 0xc2 && cp <= 0xdf)
            n = 2, cp &= 0x1f;
        else if (cp >= 0xe0 && cp <= 0xef)
            n = 3, cp &= 0x0f;
        else if (cp >= 0xf0 && cp <= 0xf4)
            n = 4, cp &= 0x07;
        else if (cp >= 0x80)
            n = 0; /* stray continuation byte or invalid lead */
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                n = 0;
                break;
            }
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            n = 0; /* overlong or surrogate */
        if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
            n = 0;
        if (n == 0) {
            if (o + 1 >= cap)
                break;
            dst[o++] = '?';
            p++;
            continue;
        }
        if (o + n >= cap)
            break;
        for (size_t i = 0; i < n; i++)
            dst[o + i] = (char)p[i];
        if (n == 1 && (*p < 0x20 || *p == 0x7f))
            dst[o] = ' ';
        o += n, p += n;
    }
    dst[o] = '\0';
    return o;
}

/* Caller holds mu. */
static void publish(struct sel *s, uint64_t id)
{
    uint64_t one = 1;
    if (id <= s->visible_id)
        return;
    s->visible_id = id;
    pthread_cond_broadcast(&s->cond);
    if (write(s->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN means the counter is saturated: the reader is already due a wakeup */
    }
}

static int sync_upto(struct sel *s, uint64_t id)
{
    int rc = 0;
    pthread_mutex_lock(&s->sync_mu);
    if (s->synced_id < id) {
        pthread_mutex_lock(&s->mu);
        uint64_t target = s->next_id - 1; /* every id below next_id has been pwritten */
        int fd = s->fd;
        pthread_mutex_unlock(&s->mu);
        if (fdatasync(fd))
            rc = -errno;
        pthread_mutex_lock(&s->mu);
        if (rc)
            s->io_errors++;
        s->synced_id = target;
        publish(s, target); /* even on error: the entry is in memory and must not stall readers */
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return rc;
}

static void fill(struct sel_entry *e, enum sel_severity sev, enum sel_type type, const char *vm,
                 const char *fmt, va_list ap)
{
    char raw[SEL_MSG_MAX * 2];
    struct timespec ts;

    memset(e, 0, sizeof(*e));
    clock_gettime(CLOCK_REALTIME, &ts);
    e->time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    e->severity = sev > SEL_CRITICAL ? SEL_CRITICAL : sev;
    e->type = (unsigned)type >= SEL_T_COUNT ? SEL_T_OTHER : type;
    sanitize(e->vm, sizeof(e->vm), vm ? vm : "");
    int n = vsnprintf(raw, sizeof(raw), fmt, ap);
    size_t len = sanitize(e->message, sizeof(e->message), n < 0 ? "(bad format)" : raw);
    if (n >= 0 && (size_t)n > len) { /* truncated: say so, on a character boundary */
        len = sanitize(e->message, sizeof(e->message) - 3, raw);
        memcpy(e->message + len, "...", 4);
    }
}

/* Caller holds mu.  Assigns the id and writes the record; returns the id. */
static uint64_t insert(struct sel *s, struct sel_entry *e)
{
    struct sel_entry *slot;
    e->id = s->next_id++;
    slot = &s->ring.slots[e->id % s->ring.capacity];
    if (!slot->id)
        s->ring.count++;
    *slot = *e;
    if (sel_disk_write(s->fd, s->ring.capacity, e))
        s->io_errors++;
    return e->id;
}

uint64_t sel_vappend(struct sel *s, enum sel_severity sev, enum sel_type type, const char *vm,
                     const char *fmt, va_list ap)
{
    struct sel_entry e;
    uint64_t id;

    fill(&e, sev, type, vm, fmt, ap);
    pthread_mutex_lock(&s->mu);
    id = insert(s, &e);
    bool durable = s->durable;
    if (!durable)
        publish(s, id);
    pthread_mutex_unlock(&s->mu);
    if (durable)
        sync_upto(s, id);
    return id;
}

uint64_t sel_append(struct sel *s, enum sel_severity sev, enum sel_type type, const char *vm,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uint64_t id = sel_vappend(s, sev, type, vm, fmt, ap);
    va_end(ap);
    return id;
}

/* Caller holds mu.  Ids are in [lo, visible]; holes (torn records) are skipped. */
static uint64_t oldest_id(const struct sel *s)
{
    uint32_t cap = s->ring.capacity;
    return s->visible_id >= cap ? s->visible_id - cap + 1 : 1;
}

size_t sel_read(struct sel *s, uint64_t after_id, struct sel_entry *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    uint64_t id = oldest_id(s);
    if (after_id >= id)
        id = after_id + 1;
    for (; id <= s->visible_id && n < max; id++) {
        const struct sel_entry *e = &s->ring.slots[id % s->ring.capacity];
        if (e->id == id)
            out[n++] = *e;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint64_t sel_last_id(struct sel *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t id = s->visible_id;
    pthread_mutex_unlock(&s->mu);
    return id;
}

void sel_get_info(struct sel *s, struct sel_info *info)
{
    memset(info, 0, sizeof(*info));
    pthread_mutex_lock(&s->mu);
    info->capacity = s->ring.capacity;
    info->last_id = s->visible_id;
    for (uint64_t id = oldest_id(s); id <= s->visible_id; id++) {
        if (s->ring.slots[id % s->ring.capacity].id != id)
            continue;
        if (!info->first_id)
            info->first_id = id;
        info->count++;
    }
    info->durable = s->durable;
    info->io_errors = s->io_errors;
    info->discarded = s->ring.discarded;
    pthread_mutex_unlock(&s->mu);
}

void sel_set_durable(struct sel *s, bool durable)
{
    pthread_mutex_lock(&s->mu);
    s->durable = durable;
    pthread_mutex_unlock(&s->mu);
    if (durable)
        sel_sync(s);
}

int sel_sync(struct sel *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t id = s->next_id - 1;
    pthread_mutex_unlock(&s->mu);
    return sync_upto(s, id);
}

uint64_t sel_clear(struct sel *s, const char *who)
{
    struct sel_entry e;
    char err[256];
    int fd;

    pthread_mutex_lock(&s->sync_mu);
    pthread_mutex_lock(&s->mu);
    memset(&e, 0, sizeof(e));
    e.id = s->next_id;
    e.severity = SEL_OK;
    e.type = SEL_T_LOG_CLEARED;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    char who_s[SEL_VM_MAX];
    sanitize(who_s, sizeof(who_s), who && *who ? who : "an operator");
    snprintf(e.message, sizeof(e.message), "Log cleared by %s", who_s);
    /* A fresh file swapped in by rename: a crash leaves either the old log or the new one. */
    if (sel_disk_create(s->path, s->ring.capacity, &e, 1, &fd, err, sizeof(err))) {
        s->io_errors++;
        e.id = 0;
    } else {
        close(s->fd);
        s->fd = fd;
        memset(s->ring.slots, 0, (size_t)s->ring.capacity * sizeof(*s->ring.slots));
        s->ring.slots[e.id % s->ring.capacity] = e;
        s->ring.count = 1;
        s->next_id = e.id + 1;
        s->synced_id = e.id;
        publish(s, e.id);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->sync_mu);
    return e.id;
}

uint64_t sel_wait(struct sel *s, uint64_t after_id, int timeout_ms)
{
    /* s->cond runs on CLOCK_MONOTONIC (sel_open). */
    struct timespec dl = hv_deadline_ns((uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u);
    pthread_mutex_lock(&s->mu);
    while (s->visible_id <= after_id && timeout_ms != 0) {
        int rc = timeout_ms < 0 ? pthread_cond_wait(&s->cond, &s->mu)
                                : pthread_cond_timedwait(&s->cond, &s->mu, &dl);
        if (rc == ETIMEDOUT)
            break;
    }
    uint64_t id = s->visible_id;
    pthread_mutex_unlock(&s->mu);
    return id;
}

int sel_event_fd(struct sel *s)
{
    return s->efd;
}
