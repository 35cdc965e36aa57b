/* snapshot_recover: sort a store directory into complete snapshots and debris at open. */
#include "base/log.h"
#include "evidence/snapshot_store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A file name seen while recovering: which of a snapshot's two files exist. */
struct seen {
    char id[SNAPSHOT_ID_MAX];
    bool core, meta;
};

static bool has_suffix(const char *name, const char *suffix, size_t *base)
{
    size_t n = strlen(name), k = strlen(suffix);

    if (n <= k || strcmp(name + n - k, suffix) != 0)
        return false;
    *base = n - k;
    return true;
}

static int note_file(struct seen **v, size_t *n, size_t *cap, const char *id, bool core)
{
    size_t i;

    for (i = 0; i < *n && strcmp((*v)[i].id, id) != 0; i++)
        ;
    if (i == *n) {
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 32;
            struct seen *nv = realloc(*v, c * sizeof(**v));
            if (nv == NULL)
                return -ENOMEM;
            *v = nv;
            *cap = c;
        }
        memset(&(*v)[i], 0, sizeof(**v));
        snprintf((*v)[i].id, sizeof((*v)[i].id), "%s", id);
        (*n)++;
    }
    if (core)
        (*v)[i].core = true;
    else
        (*v)[i].meta = true;
    return 0;
}

/* Loads <id>.json; NULL if it is unreadable or does not describe <id>.core as it is. */
static json_t *load_meta(struct snapshot_store *s, const char *id, const char **why)
{
    char name[SNAPSHOT_ID_MAX + 16];
    struct stat sb;
    json_error_t jerr;
    json_t *m, *mid, *bytes;
    int fd;

    snprintf(name, sizeof(name), "%s%s", id, SNAP_META_SUFFIX);
    fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    *why = "unreadable metadata";
    if (fd < 0)
        return NULL;
    m = json_loadfd(fd, 0, &jerr);
    close(fd);
    if (m == NULL)
        return NULL;
    mid = json_object_get(m, "id");
    bytes = json_object_get(m, "core_bytes");
    snprintf(name, sizeof(name), "%s%s", id, SNAP_CORE_SUFFIX);
    if (!json_is_string(mid) || strcmp(json_string_value(mid), id) != 0 ||
        !json_is_integer(bytes)) {
        *why = "metadata of another snapshot or incomplete";
    } else if (fstatat(s->dirfd, name, &sb, 0) < 0 || !S_ISREG(sb.st_mode) ||
               (json_int_t)sb.st_size != json_integer_value(bytes)) {
        /* Cheap check against a core truncated or replaced behind our back; no re-hash. */
        *why = "core size differs from its metadata";
    } else {
        return m;
    }
    json_decref(m);
    return NULL;
}

/* Sorts the directory into complete snapshots (indexed) and debris (removed, logged). */
int snap_recover(struct snapshot_store *s, char *err, size_t errlen)
{
    struct seen *v = NULL;
    size_t n = 0, cap = 0, base;
    bool removed = false;
    int rc = 0, fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;

    if (d == NULL) {
        rc = -errno;
        if (fd >= 0)
            close(fd);
        return hv_seterr(err, errlen, "%s: %s", s->root, strerror(-rc)), rc;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char id[SNAPSHOT_ID_MAX];
        const char *nm = de->d_name;
        struct stat sb;
        bool core;

        /* Only regular files can be ours; a directory named x.core is someone else's. */
        if (de->d_type != DT_REG &&
            (de->d_type != DT_UNKNOWN || fstatat(s->dirfd, nm, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
             !S_ISREG(sb.st_mode)))
            continue;
        if (has_suffix(nm, SNAP_TMP_SUFFIX, &base)) {
            /* A write cut short (kill -9, power loss): never published, so just debris.  Its
             * id still counts, so that the sequence does not hand the same id out again. */
            size_t k = strcspn(nm, ".");
            snprintf(id, sizeof(id), "%.*s", (int)(k < sizeof(id) ? k : 0), nm);
            snap_see_seq(s, id);
            log_warn("snapshots: removing leftover %s/%s (interrupted write)", s->root, nm);
            if (unlinkat(s->dirfd, nm, 0) < 0 && errno != ENOENT)
                log_warn("snapshots: cannot remove %s/%s: %s", s->root, nm, strerror(errno));
            removed = true;
            continue;
        }
        if (has_suffix(nm, SNAP_CORE_SUFFIX, &base))
            core = true;
        else if (has_suffix(nm, SNAP_META_SUFFIX, &base))
            core = false;
        else
            continue; /* .lock, or not ours: left alone */
        if (base >= sizeof(id))
            continue;
        snprintf(id, sizeof(id), "%.*s", (int)base, nm);
        if (snapshot_id_valid(id))
            rc = note_file(&v, &n, &cap, id, core);
    }
    closedir(d);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct snap_ent e = {.seq = snap_id_seq(v[i].id)};
        const char *why = v[i].core ? "core without metadata" : "metadata without core";

        snap_see_seq(s, v[i].id);
        if (v[i].core && v[i].meta)
            e.meta = load_meta(s, v[i].id, &why);
        if (e.meta == NULL) {
            log_warn("snapshots: removing incomplete snapshot %s/%s (%s)", s->root, v[i].id, why);
            snap_unlink_suffix(s, v[i].id, SNAP_META_SUFFIX);
            snap_unlink_suffix(s, v[i].id, SNAP_CORE_SUFFIX);
            removed = true;
            continue;
        }
        snprintf(e.id, sizeof(e.id), "%s", v[i].id);
        e.bytes = snap_ent_bytes(s, e.id);
        if ((rc = snap_index_add(s, &e)) < 0)
            json_decref(e.meta);
    }
    /* Complete snapshots whose digest hv did not live to write: hashed again, oldest first
     * (the index is sorted; ids are queued in its order). */
    for (size_t i = 0; rc == 0 && i < s->nents; i++)
        if (snap_meta_pending(s->ents[i].meta))
            rc = snap_digest_queue(s, s->ents[i].id);
    free(v);
    if (rc < 0)
        return hv_seterr(err, errlen, "%s: %s", s->root, strerror(-rc)), rc;
    if (removed)
        fsync(s->dirfd); /* the removals are durable before new ids are handed out */
    return 0;
}
