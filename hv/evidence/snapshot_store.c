/* snapshot_store: open and recover the store, index, list/show/delete, retention. */
#include "base/log.h"
#include "evidence/snapshot_store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int snapshot_id_valid(const char *id)
{
    size_t n = 0;

    if (id == NULL)
        return 0;
    for (; id[n] != '\0'; n++) {
        char c = id[n];
        if (n + 1 >= SNAPSHOT_ID_MAX || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                          (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return n > 0;
}

uint64_t snap_id_seq(const char *id)
{
    uint64_t seq = 0;
    size_t n = strlen(id);

    /* "YYYYMMDD-HHMMSS-" is 16 characters; anything else was not made by the store. */
    if (n <= 16 || id[8] != '-' || id[15] != '-' || n - 16 > 19)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 15)
            continue;
        if (id[i] < '0' || id[i] > '9')
            return 0;
        if (i > 15)
            seq = seq * 10 + (uint64_t)(id[i] - '0');
    }
    return seq;
}

uint64_t snap_allocated(struct snapshot_store *s, const char *name)
{
    struct stat sb;

    return fstatat(s->dirfd, name, &sb, 0) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

uint64_t snap_ent_bytes(struct snapshot_store *s, const char *id)
{
    char name[SNAPSHOT_ID_MAX + 16];
    uint64_t b;

    snprintf(name, sizeof(name), "%s%s", id, SNAP_CORE_SUFFIX);
    b = snap_allocated(s, name);
    snprintf(name, sizeof(name), "%s%s", id, SNAP_META_SUFFIX);
    return b + snap_allocated(s, name);
}

/* Ids found on disk push the sequence past them: ids stay unique across restarts. */
void snap_see_seq(struct snapshot_store *s, const char *id)
{
    uint64_t seq = snap_id_seq(id);

    if (seq >= s->next_seq)
        s->next_seq = seq + 1;
}

static int ent_cmp(const struct snap_ent *a, const struct snap_ent *b)
{
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return strcmp(a->id, b->id);
}

int snap_index_add(struct snapshot_store *s, const struct snap_ent *e)
{
    size_t i;

    if (s->nents == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct snap_ent *v = realloc(s->ents, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        s->ents = v;
        s->cap = cap;
    }
    /* New snapshots have the highest seq, so this is an append except while loading. */
    for (i = s->nents; i > 0 && ent_cmp(&s->ents[i - 1], e) > 0; i--)
        ;
    memmove(&s->ents[i + 1], &s->ents[i], (s->nents - i) * sizeof(*e));
    s->ents[i] = *e;
    s->nents++;
    return 0;
}

static struct snap_ent *find(struct snapshot_store *s, const char *id)
{
    for (size_t i = 0; i < s->nents; i++)
        if (strcmp(s->ents[i].id, id) == 0)
            return &s->ents[i];
    return NULL;
}

void snap_unlink_suffix(struct snapshot_store *s, const char *id, const char *suffix)
{
    char name[SNAPSHOT_ID_MAX + 16];

    snprintf(name, sizeof(name), "%s%s", id, suffix);
    if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
        log_warn("snapshots: cannot remove %s/%s: %s", s->root, name, strerror(errno));
}

/* Metadata first: once it is gone the snapshot is no longer complete, whatever happens next. */
static void remove_ent(struct snapshot_store *s, size_t i)
{
    snap_unlink_suffix(s, s->ents[i].id, SNAP_META_SUFFIX);
    snap_unlink_suffix(s, s->ents[i].id, SNAP_CORE_SUFFIX);
    if (s->ents[i].pinned)
        snap_unlink_suffix(s, s->ents[i].id, SNAP_PIN_SUFFIX);
    json_decref(s->ents[i].meta);
    memmove(&s->ents[i], &s->ents[i + 1], (s->nents - i - 1) * sizeof(s->ents[0]));
    s->nents--;
}

uint64_t snap_total_bytes(const struct snapshot_store *s)
{
    uint64_t t = 0;

    for (size_t i = 0; i < s->nents; i++)
        t += s->ents[i].bytes;
    return t;
}

void snap_retention(struct snapshot_store *s, const char *keep_id)
{
    bool removed = false;
    size_t i = 0;

    while (i < s->nents && ((s->max_count && s->nents > s->max_count) ||
                            (s->max_bytes && snap_total_bytes(s) > s->max_bytes))) {
        /* Oldest first, but never the one just written nor, at open, the newest. */
        if ((keep_id && strcmp(s->ents[i].id, keep_id) == 0) || (!keep_id && i + 1 == s->nents) ||
            s->ents[i].pinned) {
            i++;
            continue;
        }
        log_info("snapshots: retention removes %s (%llu bytes)", s->ents[i].id,
                 (unsigned long long)s->ents[i].bytes);
        remove_ent(s, i);
        removed = true;
    }
    if (s->max_bytes && snap_total_bytes(s) > s->max_bytes)
        log_warn("snapshots: %llu bytes held, over the %llu byte limit (newest kept)",
                 (unsigned long long)snap_total_bytes(s), (unsigned long long)s->max_bytes);
    if (removed)
        fsync(s->dirfd);
}

int snapshot_store_open(struct snapshot_store **out, const char *dir, unsigned max_count,
                        uint64_t max_bytes, char *err, size_t errlen)
{
    struct snapshot_store *s;
    int rc;

    *out = NULL;
    if (dir == NULL || *dir == '\0')
        return hv_seterr(err, errlen, "snapshots: no state directory"), -EINVAL;
    s = calloc(1, sizeof(*s));
    if (s == NULL || asprintf(&s->root, "%s/snapshots", dir) < 0) {
        free(s);
        return hv_seterr(err, errlen, "out of memory"), -ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->dirfd = s->lockfd = -1;
    s->max_count = max_count;
    s->max_bytes = max_bytes;
    s->next_seq = 1;
    if ((mkdir(dir, 0755) < 0 && errno != EEXIST) ||
        (mkdir(s->root, 0750) < 0 && errno != EEXIST) ||
        (s->dirfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (s->lockfd = openat(s->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        hv_seterr(err, errlen, "%s: %s", s->root, strerror(-rc));
        goto fail;
    }
    /* Two monitors on one store would delete each other's temporaries as debris. */
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        hv_seterr(err, errlen, "%s: in use by another process", s->root);
        goto fail;
    }
    if ((rc = snap_recover(s, err, errlen)) < 0)
        goto fail;
    snap_pins_load(s);
    snap_retention(s, NULL); /* the limits may have been lowered since the last run */
    if ((rc = snap_digest_start(s)) < 0) {
        hv_seterr(err, errlen, "snapshots: cannot start the digest thread: %s", strerror(-rc));
        goto fail;
    }
    log_info("snapshots: %s: %zu held (%zu waiting for a digest), %llu bytes, next id sequence "
             "%llu",
             s->root, s->nents, s->qlen, (unsigned long long)snap_total_bytes(s),
             (unsigned long long)s->next_seq);
    *out = s;
    return 0;
fail:
    snapshot_store_close(s);
    return rc;
}

void snapshot_store_close(struct snapshot_store *s)
{
    if (s == NULL)
        return;
    snap_digest_stop(s);
    for (size_t i = 0; i < s->nents; i++)
        json_decref(s->ents[i].meta);
    free(s->ents);
    free(s->queue);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s->root);
    free(s);
}

json_t *snapshot_store_list(struct snapshot_store *s)
{
    json_t *a = json_array();

    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; a != NULL && i < s->nents; i++) {
        /* Copies: the caller may keep or change them after the snapshot is deleted. */
        json_t *m = json_deep_copy(s->ents[i].meta);
        if (m && s->ents[i].pinned)
            json_object_set_new(m, "pinned", json_true());
        if (json_array_append_new(a, m) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return a;
}

json_t *snapshot_store_show(struct snapshot_store *s, const char *id)
{
    struct snap_ent *e;
    json_t *m = NULL;

    if (!snapshot_id_valid(id))
        return NULL;
    pthread_mutex_lock(&s->mu);
    if ((e = find(s, id)) != NULL && (m = json_deep_copy(e->meta)) != NULL && e->pinned)
        json_object_set_new(m, "pinned", json_true());
    pthread_mutex_unlock(&s->mu);
    return m;
}

int snapshot_store_core_path(struct snapshot_store *s, const char *id, char *buf, size_t len)
{
    int rc = 0;

    if (!snapshot_id_valid(id))
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    if (find(s, id) == NULL)
        rc = -ENOENT;
    else if ((size_t)snprintf(buf, len, "%s/%s%s", s->root, id, SNAP_CORE_SUFFIX) >= len)
        rc = -ENAMETOOLONG;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int snapshot_store_delete(struct snapshot_store *s, const char *id)
{
    int rc = -ENOENT;

    if (!snapshot_id_valid(id))
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nents; i++) {
        if (strcmp(s->ents[i].id, id) == 0) {
            remove_ent(s, i);
            fsync(s->dirfd);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
        log_info("snapshots: deleted %s", id);
    return rc;
}

void snapshot_store_usage(struct snapshot_store *s, unsigned *count, uint64_t *bytes)
{
    pthread_mutex_lock(&s->mu);
    if (count)
        *count = (unsigned)s->nents;
    if (bytes)
        *bytes = snap_total_bytes(s);
    pthread_mutex_unlock(&s->mu);
}
