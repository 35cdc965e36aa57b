/* snapshot_digest: SHA-256 of complete snapshots on a background thread, written in atomically. */
#include "base/log.h"
#include "evidence/snapshot_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/*
 * Why a thread of its own: the digest of a core costs ~0.5 s per GiB of guest natively and
 * 20-60 s per GiB in the nested TCG machine (zeros included), far more than making the core
 * durable.  The snapshot is complete and listed as soon as its core is durable, with
 * "sha256": "pending"; this thread then hashes the file as it reads back (what was kept, not
 * guest memory, which may already have changed) and renames new metadata over the old.
 *
 * It pauses while any write runs: on a machine with few CPUs (two here, one host thread for
 * both in the nested machine) a hash beside a dump only slows the dump down, and durability
 * is what an operator waits for.  It runs at nice DIGEST_NICE, so that VMs win the CPU when
 * they want it; not SCHED_IDLE, which a guest spinning on every CPU would starve for ever.
 */
#define DIGEST_NICE 10

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool snap_meta_pending(const json_t *m)
{
    const char *v = json_string_value(json_object_get(m, "sha256"));

    return v == NULL || strcmp(v, SNAPSHOT_SHA256_PENDING) == 0;
}

static struct snap_ent *find_ent(struct snapshot_store *s, const char *id)
{
    for (size_t i = 0; i < s->nents; i++)
        if (strcmp(s->ents[i].id, id) == 0)
            return &s->ents[i];
    return NULL;
}

static bool queued(const struct snapshot_store *s, const char *id)
{
    for (size_t i = 0; i < s->qlen; i++)
        if (strcmp(s->queue[i], id) == 0)
            return true;
    return strcmp(s->hashing, id) == 0;
}

int snap_digest_queue(struct snapshot_store *s, const char *id)
{
    if (queued(s, id))
        return 0;
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 8;
        char(*q)[SNAPSHOT_ID_MAX] = realloc(s->queue, cap * sizeof(*q));
        if (q == NULL)
            return -ENOMEM;
        s->queue = q;
        s->qcap = cap;
    }
    snprintf(s->queue[s->qlen++], SNAPSHOT_ID_MAX, "%s", id);
    pthread_cond_broadcast(&s->cond);
    return 0;
}

/* The hash hook: holds the hash while a write runs; cancels it when the store closes. */
static int hook(void *arg)
{
    struct snapshot_store *s = arg;
    int stop;

    pthread_mutex_lock(&s->mu);
    while (s->writers > 0 && !s->stopping)
        pthread_cond_wait(&s->cond, &s->mu);
    stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* The metadata with its digest (or the reason there is none).  Caller holds mu. */
static json_t *digest_meta(const struct snap_ent *e, const char *hex, int rc, double hash_s,
                           uint64_t read_bytes)
{
    json_t *m = json_deep_copy(e->meta), *t;

    if (m == NULL)
        return NULL;
    if ((t = json_object_get(m, "timing")) == NULL) {
        t = json_object();
        json_object_set_new(m, "timing", t);
    }
    if (rc < 0) {
        json_object_set_new(m, "sha256_error", json_string(strerror(-rc)));
        return m;
    }
    json_object_del(m, "sha256_error");
    json_object_set_new(m, "sha256", json_string(hex));
    json_object_set_new(t, "hash_s", json_real(hash_s));
    json_object_set_new(t, "hash_read_bytes", json_integer((json_int_t)read_bytes));
    /* From the write's start to this digest; unknown for a snapshot hashed after a restart. */
    if (e->t0 > 0)
        json_object_set_new(t, "total_s", json_real(mono() - e->t0));
    return m;
}

/* Writes the digest (or its error) into id's metadata if id is still listed; true if written.
 * Caller holds mu. */
static bool publish(struct snapshot_store *s, const char *id, const char *hex, int rc,
                    double hash_s, uint64_t read_bytes)
{
    struct snap_ent *e = find_ent(s, id);
    char err[256] = "";
    json_t *m;

    if (e == NULL)
        return false; /* deleted meanwhile (retention or an operator): nothing to update */
    if ((m = digest_meta(e, hex, rc, hash_s, read_bytes)) == NULL) {
        log_warn("snapshots: %s: no memory for its digest", id);
        return false;
    }
    if (snap_write_meta(s, id, m, err, sizeof(err)) < 0 || fsync(s->dirfd) < 0) {
        log_warn("snapshots: %s: writing its digest: %s (computed again at the next open)", id,
                 err[0] ? err : strerror(errno));
        json_decref(m);
        return false;
    }
    json_decref(e->meta);
    e->meta = m;
    e->bytes = snap_ent_bytes(s, id);
    return true;
}

static void hash_one(struct snapshot_store *s, const char *id)
{
    char name[SNAPSHOT_ID_MAX + 16], hex[SNAPSHOT_SHA256_HEX] = "", vm[128] = "";
    uint64_t read_bytes = 0;
    double t0 = mono(), hash_s;
    snapshot_digest_fn fn;
    void *ctx;
    int fd, rc;

    snprintf(name, sizeof(name), "%s%s", id, SNAP_CORE_SUFFIX);
    /* Open by name now: if the snapshot is deleted while we hash, the fd still reads it. */
    fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        rc = -errno;
    else
        rc = snap_sha256_fd_hook(fd, hex, &read_bytes, hook, s);
    if (fd >= 0)
        close(fd);
    hash_s = mono() - t0;
    if (rc == -ECANCELED)
        return; /* closing: stays pending, hashed again at the next open */

    pthread_mutex_lock(&s->mu);
    if (rc == -ENOENT && find_ent(s, id) == NULL) {
        pthread_mutex_unlock(&s->mu);
        return; /* deleted before we got to it */
    }
    bool published = publish(s, id, hex, rc, hash_s, read_bytes);
    struct snap_ent *e = find_ent(s, id);
    const char *name_vm = e ? json_string_value(json_object_get(e->meta, "vm")) : NULL;
    snprintf(vm, sizeof(vm), "%s", name_vm ? name_vm : "");
    fn = s->on_digest;
    ctx = s->on_digest_ctx;
    pthread_mutex_unlock(&s->mu);

    if (rc < 0) {
        log_warn("snapshots: %s: SHA-256 of the core failed: %s (retried at the next open)", id,
                 strerror(-rc));
        return;
    }
    log_info("snapshots: %s: sha256 %s (%.3f s, %llu bytes read)", id, hex, hash_s,
             (unsigned long long)read_bytes);
    if (fn && published)
        fn(ctx, id, vm, hex, hash_s);
}

static void *digester(void *arg)
{
    struct snapshot_store *s = arg;
    char id[SNAPSHOT_ID_MAX];

    /* Per thread on Linux, and inherited by the hashing helper this thread starts. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), DIGEST_NICE) < 0)
        log_debug("snapshots: digester stays at nice 0: %s", strerror(errno));
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        if (s->qlen == 0 || s->writers > 0) {
            pthread_cond_wait(&s->cond, &s->mu);
            continue;
        }
        snprintf(id, sizeof(id), "%s", s->queue[0]);
        snprintf(s->hashing, sizeof(s->hashing), "%s", id);
        memmove(&s->queue[0], &s->queue[1], (s->qlen - 1) * sizeof(s->queue[0]));
        s->qlen--;
        pthread_mutex_unlock(&s->mu);
        hash_one(s, id);
        pthread_mutex_lock(&s->mu);
        s->hashing[0] = '\0';
        pthread_cond_broadcast(&s->cond); /* wakes snapshot_store_wait_digest */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int snap_digest_start(struct snapshot_store *s)
{
    struct sched_param none = {.sched_priority = 0};
    pthread_attr_t attr;
    int rc;

    /* SCHED_OTHER explicitly: never the opener's class (hv's main loop may be SCHED_FIFO). */
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
    pthread_attr_setschedparam(&attr, &none);
    rc = pthread_create(&s->digester, &attr, digester, s);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return -rc;
    s->digester_started = true;
    return 0;
}

void snap_digest_stop(struct snapshot_store *s)
{
    if (!s->digester_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->digester, NULL);
    s->digester_started = false;
}

void snapshot_store_on_digest(struct snapshot_store *s, snapshot_digest_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->mu);
    s->on_digest = fn;
    s->on_digest_ctx = ctx;
    pthread_mutex_unlock(&s->mu);
}

int snapshot_store_wait_digest(struct snapshot_store *s, const char *id, int timeout_ms)
{
    struct timespec deadline;
    struct snap_ent *e;
    int rc = 0;

    if (!snapshot_id_valid(id))
        return -EINVAL;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms >= 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->mu);
    while ((e = find_ent(s, id)) != NULL && queued(s, id) && !s->stopping && rc != ETIMEDOUT)
        rc = timeout_ms < 0 ? pthread_cond_wait(&s->cond, &s->mu)
                            : pthread_cond_timedwait(&s->cond, &s->mu, &deadline);
    if (e == NULL)
        rc = -ENOENT;
    else if (!snap_meta_pending(e->meta))
        rc = 0;
    else if (queued(s, id))
        rc = s->stopping ? -ESHUTDOWN : -ETIMEDOUT;
    else
        rc = -EIO; /* hashed, and it failed: sha256_error says why */
    pthread_mutex_unlock(&s->mu);
    return rc;
}
