/* nvstore.c: the NV store's records on disk, their bounds, and the index kept beside them. */
#include "nv/nvstore.h"

#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nv_rec {
    char key[NV_KEY_MAX + 1];
    uint64_t size;
};

struct nvstore {
    int dirfd;
    char dir[PATH_MAX];
    pthread_mutex_t mu; /* the index below and the files: one change at a time (a leaf) */
    struct nv_rec recs[NV_RECORDS_MAX]; /* sorted by key */
    unsigned count;
    uint64_t total;
};

int nvstore_key_valid(const char *key, char *err, size_t errlen)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > NV_KEY_MAX) {
        snprintf(err, errlen, "a key is 1..%u characters long", NV_KEY_MAX);
        return 0;
    }
    if (key[0] == '.') {
        snprintf(err, errlen, "a key may not start with '.'");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            snprintf(err, errlen, "a key is made of [A-Za-z0-9._-]; character %zu is 0x%02x", i,
                     (unsigned char)c);
            return 0;
        }
    }
    return 1;
}

/* The index slot of key, or where it would go (*found says which). */
static unsigned find(const struct nvstore *s, const char *key, int *found)
{
    unsigned lo = 0, hi = s->count;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        int c = strcmp(s->recs[mid].key, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static void index_set(struct nvstore *s, const char *key, uint64_t size)
{
    int found;
    unsigned i = find(s, key, &found);
    if (found) {
        s->total = s->total - s->recs[i].size + size;
        s->recs[i].size = size;
        return;
    }
    memmove(&s->recs[i + 1], &s->recs[i], (s->count - i) * sizeof s->recs[0]);
    snprintf(s->recs[i].key, sizeof s->recs[i].key, "%s", key);
    s->recs[i].size = size;
    s->count++;
    s->total += size;
}

static void index_remove(struct nvstore *s, unsigned i)
{
    s->total -= s->recs[i].size;
    memmove(&s->recs[i], &s->recs[i + 1], (s->count - i - 1) * sizeof s->recs[0]);
    s->count--;
}

/* A leftover of a writer that died between create and rename: ".<key>.tmp". */
static int is_tmp(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' && n > 5 && !strcmp(name + n - 4, ".tmp");
}

static int scan(struct nvstore *s, char *err, size_t errlen)
{
    int fd = dup(s->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "%s: %s", s->dir, strerror(e));
        return -e;
    }
    struct dirent *de;
    char why[128];
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        if (is_tmp(name)) {
            log_info("NV store: removing %s/%s, left by an interrupted write", s->dir, name);
            unlinkat(s->dirfd, name, 0);
            continue;
        }
        struct stat st;
        if (!nvstore_key_valid(name, why, sizeof why) ||
            fstatat(s->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            st.st_size > NV_VALUE_MAX || s->count == NV_RECORDS_MAX ||
            s->total + (uint64_t)st.st_size > NV_TOTAL_MAX) {
            log_warn("NV store: ignoring %s/%s: not a record within the store's bounds", s->dir,
                     name);
            continue;
        }
        index_set(s, name, (uint64_t)st.st_size);
    }
    closedir(d);
    fsync(s->dirfd); /* the removals of leftovers */
    return 0;
}

int nvstore_open(struct nvstore **out, const char *dir, char *err, size_t errlen)
{
    struct nvstore *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int n = snprintf(s->dir, sizeof s->dir, "%s/nv", dir);
    if (n < 0 || (size_t)n >= sizeof s->dir) {
        snprintf(err, errlen, "state directory path too long");
        free(s);
        return -ENAMETOOLONG;
    }
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "mkdir %s: %s", s->dir, strerror(e));
        free(s);
        return -e;
    }
    s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", s->dir, strerror(e));
        free(s);
        return -e;
    }
    pthread_mutex_init(&s->mu, NULL);
    int rc = scan(s, err, errlen);
    if (rc < 0) {
        nvstore_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void nvstore_close(struct nvstore *s)
{
    if (!s)
        return;
    close(s->dirfd);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The file's part of a put: tmp, write, fsync, rename, fsync the directory.  Under mu. */
static int put_file(struct nvstore *s, const char *key, const void *value, size_t len, char *err,
                    size_t errlen)
{
    char tmp[NV_KEY_MAX + 8];
    snprintf(tmp, sizeof tmp, ".%s.tmp", key);
    int fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) { /* only a writer that died leaves one: we hold mu */
        unlinkat(s->dirfd, tmp, 0);
        fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "creating %s/%s: %s", s->dir, tmp, strerror(e));
        return -e;
    }
    int rc = write_all(fd, value, len);
    const char *step = "writing";
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno, step = "syncing";
    close(fd);
    if (rc == 0 && renameat(s->dirfd, tmp, s->dirfd, key) < 0)
        rc = -errno, step = "renaming";
    if (rc < 0) {
        unlinkat(s->dirfd, tmp, 0);
        snprintf(err, errlen, "%s %s/%s: %s", step, s->dir, key, strerror(-rc));
        return rc;
    }
    if (fsync(s->dirfd) < 0) {
        rc = -errno;
        snprintf(err, errlen, "syncing directory %s: %s", s->dir, strerror(-rc));
        return rc;
    }
    return 0;
}

int nvstore_put(struct nvstore *s, const char *key, const void *value, size_t len, char *err,
                size_t errlen)
{
    if (!nvstore_key_valid(key, err, errlen))
        return -EINVAL;
    if (len > NV_VALUE_MAX) {
        snprintf(err, errlen, "a value is at most %u bytes; this one is %zu", NV_VALUE_MAX, len);
        return -ENOSPC;
    }
    pthread_mutex_lock(&s->mu);
    int found;
    unsigned i = find(s, key, &found);
    uint64_t old = found ? s->recs[i].size : 0;
    int rc = 0;
    if (!found && s->count >= NV_RECORDS_MAX) {
        snprintf(err, errlen, "the NV store holds its maximum of %u records", NV_RECORDS_MAX);
        rc = -ENOSPC;
    } else if (s->total - old + len > NV_TOTAL_MAX) {
        snprintf(
            err, errlen, "the NV store would hold %llu bytes, over its maximum of %u (%llu in use)",
            (unsigned long long)(s->total - old + len), NV_TOTAL_MAX, (unsigned long long)s->total);
        rc = -ENOSPC;
    } else if ((rc = put_file(s, key, value, len, err, errlen)) == 0) {
        index_set(s, key, len);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int nvstore_get(struct nvstore *s, const char *key, uint8_t **value, size_t *len, char *err,
                size_t errlen)
{
    *value = NULL;
    *len = 0;
    if (!nvstore_key_valid(key, err, errlen))
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    int found, rc = 0;
    find(s, key, &found);
    int fd = found ? openat(s->dirfd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    struct stat st;
    if (!found) {
        snprintf(err, errlen, "no NV record \"%s\"", key);
        rc = -ENOENT;
    } else if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "reading %s/%s: %s", s->dir, key, strerror(-rc));
    } else if (st.st_size > NV_VALUE_MAX) {
        snprintf(err, errlen, "%s/%s grew beyond %u bytes outside hv", s->dir, key, NV_VALUE_MAX);
        rc = -EIO;
    } else if (st.st_size > 0) {
        uint8_t *buf = malloc((size_t)st.st_size);
        ssize_t n = buf ? pread(fd, buf, (size_t)st.st_size, 0) : -1;
        if (n != st.st_size) {
            snprintf(err, errlen, "reading %s/%s: %s", s->dir, key,
                     buf ? (n < 0 ? strerror(errno) : "short read") : "out of memory");
            free(buf);
            rc = buf ? -EIO : -ENOMEM;
        } else {
            *value = buf;
            *len = (size_t)n;
        }
    }
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int nvstore_delete(struct nvstore *s, const char *key, char *err, size_t errlen)
{
    if (!nvstore_key_valid(key, err, errlen))
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    int found, rc = 0;
    unsigned i = find(s, key, &found);
    if (!found) {
        snprintf(err, errlen, "no NV record \"%s\"", key);
        rc = -ENOENT;
    } else if (unlinkat(s->dirfd, key, 0) < 0 && errno != ENOENT) {
        rc = -errno;
        snprintf(err, errlen, "removing %s/%s: %s", s->dir, key, strerror(-rc));
    } else {
        index_remove(s, i);
        fsync(s->dirfd);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

json_t *nvstore_list(struct nvstore *s)
{
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    for (unsigned i = 0; a && i < s->count; i++)
        if (json_array_append_new(a, json_pack("{s:s, s:I}", "key", s->recs[i].key, "size",
                                               (json_int_t)s->recs[i].size)) < 0) {
            json_decref(a);
            a = NULL;
        }
    pthread_mutex_unlock(&s->mu);
    return a;
}

void nvstore_usage(struct nvstore *s, unsigned *count, uint64_t *bytes)
{
    pthread_mutex_lock(&s->mu);
    *count = s->count;
    *bytes = s->total;
    pthread_mutex_unlock(&s->mu);
}
