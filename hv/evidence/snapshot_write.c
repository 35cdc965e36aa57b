/* snapshot_write: write one snapshot atomically (durable core, metadata) and publish it. */
#include "base/log.h"
#include "evidence/snapshot_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Makes the core: a durable dump, then the rename out of .tmp. */
static int write_core(struct snapshot_store *s, const struct snapshot_request *req,
                      struct snap_written *w, char *err, size_t errlen)
{
    char tmp[SNAPSHOT_ID_MAX + 16], name[SNAPSHOT_ID_MAX + 16];
    struct stat sb;
    int fd, rc = 0;

    snprintf(tmp, sizeof(tmp), "%s%s%s", w->id, SNAP_CORE_SUFFIX, SNAP_TMP_SUFFIX);
    snprintf(name, sizeof(name), "%s%s", w->id, SNAP_CORE_SUFFIX);
    /* O_EXCL: an id is never written twice, not even by a confused second writer. */
    fd = openat(s->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = -errno;
        return hv_seterr(err, errlen, "%s/%s: %s", s->root, tmp, strerror(-rc)), rc;
    }
    /* COREDUMP_DURABLE: flushed behind the writes, fsync'ed at the end (st.fsync_seconds). */
    if (coredump_write_flags(fd, req->ranges, req->nranges, req->vcpus, req->nvcpus,
                             req->vmcoreinfo, req->vmcoreinfo_len, COREDUMP_DURABLE, &w->st, err,
                             errlen) < 0) {
        rc = -EIO;
        goto out;
    }
    w->fsync_s = w->st.fsync_seconds;
    w->dump_s = w->st.seconds - w->st.fsync_seconds;
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
        hv_seterr(err, errlen, "%s/%s: %s", s->root, tmp, strerror(-rc));
        goto out;
    }
    w->bytes = (uint64_t)sb.st_size;
    w->allocated = (uint64_t)sb.st_blocks * 512;
    if (renameat(s->dirfd, tmp, s->dirfd, name) < 0) {
        rc = -errno;
        hv_seterr(err, errlen, "%s/%s: rename: %s", s->root, tmp, strerror(-rc));
    }
out:
    close(fd);
    if (rc < 0)
        unlinkat(s->dirfd, tmp, 0);
    return rc;
}

static int utf8(const char *str)
{
    json_t *j = json_string(str);

    json_decref(j);
    return j != NULL;
}

static int check_req(const struct snapshot_request *req, char *err, size_t errlen)
{
    const char *why = NULL;

    if (req == NULL || req->vm == NULL || req->trigger == NULL)
        why = "vm and trigger are required";
    else if (req->nvcpus > 0 && req->vcpus == NULL)
        why = "no vCPU array";
    else if (req->exception && !json_is_object(req->exception))
        why = "exception must be a JSON object";
    /* json_pack refuses strings that are not UTF-8; say so here rather than after the dump. */
    else if (!utf8(req->vm) || !utf8(req->trigger))
        why = "vm and trigger must be UTF-8";
    if (why == NULL)
        return 0;
    return hv_seterr(err, errlen, "snapshot: %s", why), -EINVAL;
}

/* A write has started or ended: the digester pauses while any runs (durability first). */
static void writers_add(struct snapshot_store *s, int d)
{
    pthread_mutex_lock(&s->mu);
    s->writers = (unsigned)((int)s->writers + d);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

int snapshot_store_write(struct snapshot_store *s, const struct snapshot_request *req,
                         struct snapshot_info *out, char *err, size_t errlen)
{
    char id[SNAPSHOT_ID_MAX], stamp[32], core[SNAPSHOT_ID_MAX + 8];
    struct snap_written w = {.id = id};
    struct snap_ent e;
    double t0 = mono(), durable_s = 0;
    struct tm tm;
    time_t secs;
    json_t *m;
    int rc;

    if ((rc = check_req(req, err, errlen)) < 0)
        return rc;
    w.time_ns = req->time_ns;
    if (w.time_ns <= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        w.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    pthread_mutex_lock(&s->mu);
    w.seq = s->next_seq++;
    s->writers++;
    pthread_mutex_unlock(&s->mu);
    /* The time makes ids readable and unique even if a store is emptied and restarted; the
     * sequence orders them (the wall clock may step back) and is unique per store. */
    secs = (time_t)(w.time_ns / 1000000000);
    gmtime_r(&secs, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(id, sizeof(id), "%s-%06llu", stamp, (unsigned long long)w.seq);

    if ((rc = write_core(s, req, &w, err, errlen)) < 0) {
        writers_add(s, -1);
        return rc;
    }
    snprintf(core, sizeof(core), "%s%s", id, SNAP_CORE_SUFFIX);
    bool pinned = snap_pin_new_begin(s, id); /* before the metadata lists it */
    m = snap_build_meta(req, &w);
    if (m == NULL) {
        hv_seterr(err, errlen, "snapshot %s: metadata: out of memory", id);
        rc = -ENOMEM;
    } else {
        rc = snap_write_meta(s, id, m, err, errlen);
    }
    if (rc == 0 && fsync(s->dirfd) < 0) {
        rc = -errno;
        hv_seterr(err, errlen, "%s: fsync: %s", s->root, strerror(-rc));
    }
    /* Durable now; the file gets durable_s with the digest (the index copy at once). */
    durable_s = mono() - t0;
    json_t *timing = m ? json_object_get(m, "timing") : NULL;
    if (rc == 0 && json_object_set_new(timing, "durable_s", json_real(durable_s)) < 0) {
        hv_seterr(err, errlen, "snapshot %s: out of memory", id);
        rc = -ENOMEM;
    }

    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        memset(&e, 0, sizeof(e));
        snprintf(e.id, sizeof(e.id), "%s", id);
        e.seq = w.seq;
        e.bytes = snap_ent_bytes(s, id);
        e.meta = m;
        e.t0 = t0;
        e.pinned = pinned;
        if ((rc = snap_index_add(s, &e)) < 0)
            hv_seterr(err, errlen, "snapshot %s: out of memory", id);
        else
            m = NULL; /* the index owns it */
    }
    if (rc == 0 && snap_digest_queue(s, id) < 0)
        log_warn("snapshots: %s: no memory to queue its digest (done at the next open)", id);
    if (pinned)
        snap_pin_new_done(s);
    if (rc < 0) {
        /* Nothing half-made stays behind: unlisted files would only reappear at next open. */
        snap_unlink_suffix(s, id, SNAP_META_SUFFIX);
        unlinkat(s->dirfd, core, 0);
        if (pinned)
            snap_unlink_suffix(s, id, SNAP_PIN_SUFFIX);
    } else {
        snap_retention(s, id);
    }
    s->writers--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    json_decref(m);
    if (rc < 0)
        return rc;

    log_info("snapshots: %s (%s, %s): %llu bytes, %llu allocated; dump %.3f s, fsync %.3f s, "
             "durable after %.3f s (%llu flushes behind); sha256 pending",
             id, req->vm, req->trigger, (unsigned long long)w.bytes,
             (unsigned long long)w.allocated, w.dump_s, w.fsync_s, durable_s,
             (unsigned long long)w.st.flushes_behind);
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->id, sizeof(out->id), "%s", id);
        snprintf(out->core_path, sizeof(out->core_path), "%s/%s", s->root, core);
        snprintf(out->meta_path, sizeof(out->meta_path), "%s/%s%s", s->root, id, SNAP_META_SUFFIX);
        out->core_bytes = w.bytes;
        out->core_allocated_bytes = w.allocated;
        snprintf(out->sha256, sizeof(out->sha256), "%s", SNAPSHOT_SHA256_PENDING);
        out->dump_seconds = w.dump_s;
        out->fsync_seconds = w.fsync_s;
        out->durable_seconds = durable_s;
        out->total_seconds = mono() - t0;
    }
    return 0;
}

int snapshot_store_verify(struct snapshot_store *s, const char *id, char *err, size_t errlen)
{
    char path[PATH_MAX], hex[SNAPSHOT_SHA256_HEX];
    json_t *m = snapshot_store_show(s, id);
    const char *want = json_string_value(json_object_get(m, "sha256"));
    int fd, rc;

    if (!snapshot_id_valid(id) || m == NULL || want == NULL) {
        json_decref(m);
        rc = snapshot_id_valid(id) ? -ENOENT : -EINVAL;
        return hv_seterr(err, errlen, "snapshot %s: %s", id ? id : "", strerror(-rc)), rc;
    }
    if (snap_meta_pending(m)) {
        json_decref(m);
        return hv_seterr(err, errlen, "snapshot %s: its digest is still being computed", id),
               -EAGAIN;
    }
    if ((rc = snapshot_store_core_path(s, id, path, sizeof(path))) == 0 &&
        (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
        rc = snapshot_sha256_fd(fd, hex, NULL);
        close(fd);
    } else if (rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && strcmp(hex, want) != 0)
        rc = -EBADMSG;
    if (rc < 0)
        hv_seterr(err, errlen, "snapshot %s: %s", id,
                  rc == -EBADMSG ? "sha256 differs from its metadata" : strerror(-rc));
    json_decref(m);
    return rc;
}
