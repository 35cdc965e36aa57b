/* SEL open and close: create, lock, recover after a crash, migrate to a new capacity. */
#include "base/thread.h"
#include "bmc/sel.h"
#include "bmc/sel_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* The held entries in ascending id order (malloc'ed; *n set). */
static struct sel_entry *ring_entries(const struct sel_ring *r, size_t *n)
{
    struct sel_entry *v = malloc(((size_t)r->count + 1) * sizeof(*v));
    uint64_t lo = r->last_id >= r->capacity ? r->last_id - r->capacity + 1 : 1;

    *n = 0;
    if (!v)
        return NULL;
    for (uint64_t id = lo; id && id <= r->last_id; id++)
        if (r->slots[id % r->capacity].id == id)
            v[(*n)++] = r->slots[id % r->capacity];
    return v;
}

/* Rewrite the file at a new capacity, keeping the newest entries. */
static int migrate(struct sel *s, uint32_t capacity, char *err, size_t errlen)
{
    size_t n;
    int fd, rc;
    struct sel_entry *v = ring_entries(&s->ring, &n);
    struct sel_entry *slots = calloc(capacity, sizeof(*slots));

    if (!v || !slots) {
        free(v);
        free(slots);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }
    size_t skip = n > capacity ? n - capacity : 0;
    rc = sel_disk_create(s->path, capacity, v + skip, n - skip, &fd, err, errlen);
    if (rc == 0) {
        for (size_t i = skip; i < n; i++)
            slots[v[i].id % capacity] = v[i];
        close(s->fd);
        s->fd = fd;
        free(s->ring.slots);
        s->ring.slots = slots;
        s->ring.capacity = capacity;
        s->ring.count = (uint32_t)(n - skip);
        slots = NULL;
    }
    free(v);
    free(slots);
    return rc;
}

static int create_empty(struct sel *s, uint32_t capacity, char *err, size_t errlen)
{
    memset(&s->ring, 0, sizeof(s->ring));
    s->ring.capacity = capacity;
    s->ring.slots = calloc(capacity, sizeof(*s->ring.slots));
    if (!s->ring.slots)
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    return sel_disk_create(s->path, capacity, NULL, 0, &s->fd, err, errlen);
}

/* Load the existing file; a damaged header sets *aside to where the old file was moved. */
static int load(struct sel *s, uint32_t capacity, char *aside, size_t asidelen, char *err,
                size_t errlen)
{
    int rc;
    if (flock(s->fd, LOCK_EX | LOCK_NB))
        return snprintf(err, errlen, "%s: in use by another process", s->path), -EBUSY;
    rc = sel_disk_load(s->fd, &s->ring, err, errlen);
    if (rc == -EBADMSG) {
        /* Keep the evidence rather than overwrite it; ids restart, which the entry explains. */
        snprintf(aside, asidelen, "%s.corrupt-%lld", s->path, (long long)time(NULL));
        close(s->fd);
        s->fd = -1;
        if (rename(s->path, aside))
            return rc = -errno, snprintf(err, errlen, "rename %s: %s", aside, strerror(-rc)), rc;
        return create_empty(s, capacity ? capacity : SEL_DEFAULT_CAP, err, errlen);
    }
    if (rc)
        return rc;
    if (capacity && capacity != s->ring.capacity)
        return migrate(s, capacity, err, errlen);
    return 0;
}

int sel_open(struct sel **out, const char *path, uint32_t capacity, char *err, size_t errlen)
{
    char aside[PATH_MAX + 32] = "";
    int rc;

    *out = NULL;
    if (capacity > SEL_MAX_CAP)
        return snprintf(err, errlen, "SEL capacity %u above %u", capacity, SEL_MAX_CAP), -EINVAL;
    struct sel *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    hv_cond_init_monotonic(&s->cond);
    s->durable = true;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->fd = open(path, O_RDWR | O_CLOEXEC);
    if (s->efd < 0) {
        rc = -errno;
        snprintf(err, errlen, "eventfd: %s", strerror(-rc));
    } else if (s->fd < 0 && errno == ENOENT) {
        rc = create_empty(s, capacity ? capacity : SEL_DEFAULT_CAP, err, errlen);
    } else if (s->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    } else {
        rc = load(s, capacity, aside, sizeof(aside), err, errlen);
    }
    if (rc) {
        s->durable = false; /* nothing to flush */
        sel_close(s);
        return rc;
    }
    s->next_id = s->ring.last_id + 1;
    s->synced_id = s->visible_id = s->ring.last_id;
    if (aside[0])
        sel_append(s, SEL_CRITICAL, SEL_T_OTHER, NULL,
                   "SEL file header was damaged; old file kept as %s and a new log started", aside);
    if (s->ring.discarded)
        sel_append(s, SEL_WARNING, SEL_T_OTHER, NULL,
                   "SEL recovery dropped %u torn or corrupt record(s)", s->ring.discarded);
    *out = s;
    return 0;
}

void sel_close(struct sel *s)
{
    if (!s)
        return;
    if (s->fd >= 0) {
        if (!s->durable)
            fdatasync(s->fd);
        close(s->fd); /* drops the flock */
    }
    if (s->efd >= 0)
        close(s->efd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_mutex_destroy(&s->mu);
    free(s->ring.slots);
    free(s->path);
    free(s);
}
