/* hvlink_compat.c: nv.* and snapshot.read served locally when hv lacks them (native runs only). */
#include "hvlink_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NV_VALUE_MAX (64 * 1024)
#define READ_MAX     (16u * 1024 * 1024)

int hvlink_compat_handles(const char *op)
{
    return !strcmp(op, "nv.put") || !strcmp(op, "nv.get") || !strcmp(op, "nv.delete") ||
           !strcmp(op, "nv.list") || !strcmp(op, "snapshot.read");
}

static int fail(struct hv_reply *out, const char *code, const char *msg)
{
    out->json = json_pack("{s:b, s:s, s:s}", "ok", 0, "code", code, "error", msg);
    return 0;
}

static int key_ok(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n < 1 || n > 64 || !strcmp(k, ".") || !strcmp(k, ".."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", k[i]))
            return 0;
    return 1;
}

/* Atomic like hv's store: temporary file, fsync, rename, fsync of the folder. */
static int nv_put(const char *dir, const char *key, const void *data, size_t len)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, key);
    snprintf(path, sizeof path, "%s/%s", dir, key);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int bad = (len && write(fd, data, len) != (ssize_t)len) || fsync(fd);
    close(fd);
    if (bad || rename(tmp, path))
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int nv_call(const char *dir, const char *op, const json_t *req, const void *data, size_t len,
                   struct hv_reply *out)
{
    const char *key = json_string_value(json_object_get(req, "key"));
    char path[4200];
    mkdir(dir, 0700);
    if (!strcmp(op, "nv.list")) {
        /* Rarely used (and only here): the agent knows its own keys. */
        return fail(out, "ENOSYS", "nv.list is not offered by the compat store");
    }
    if (!key_ok(key))
        return fail(out, "EINVAL", "key must be 1-64 characters of [A-Za-z0-9._-]");
    snprintf(path, sizeof path, "%s/%s", dir, key);
    if (!strcmp(op, "nv.put")) {
        if (len > NV_VALUE_MAX)
            return fail(out, "EINVAL", "value larger than 64 KiB");
        if (nv_put(dir, key, data, len))
            return fail(out, "ENOMEM", "cannot write the record");
    } else if (!strcmp(op, "nv.delete")) {
        if (unlink(path) && errno == ENOENT)
            return fail(out, "ENOENT", "no such record");
    } else {
        FILE *f = fopen(path, "rb");
        if (!f)
            return fail(out, "ENOENT", "no such record");
        out->data = malloc(NV_VALUE_MAX);
        out->data_len = out->data ? fread(out->data, 1, NV_VALUE_MAX, f) : 0;
        fclose(f);
    }
    out->json = json_pack("{s:b}", "ok", 1);
    return 0;
}

static int snapshot_read(const json_t *req, struct hv_reply *out)
{
    const char *id = json_string_value(json_object_get(req, "id"));
    json_int_t off = json_integer_value(json_object_get(req, "offset"));
    json_int_t want = json_integer_value(json_object_get(req, "len"));
    if (!id || off < 0 || want < 0 || want > READ_MAX)
        return fail(out, "EINVAL", "snapshot.read needs id, offset >= 0, len <= 16 MiB");
    json_t *show = hv_simple(json_pack("{s:s, s:s}", "op", "snapshot.show", "id", id));
    json_t *snap = json_object_get(show, "snapshot");
    const char *core = json_string_value(json_object_get(snap, "core_path"));
    int fd = core ? open(core, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        json_decref(show);
        if (fd >= 0)
            close(fd);
        return fail(out, "ENOENT", "no such snapshot");
    }
    size_t n = off >= st.st_size ? 0 : (size_t)(st.st_size - off);
    if (n > (size_t)want)
        n = (size_t)want;
    out->data = malloc(n ? n : 1);
    ssize_t r = n ? pread(fd, out->data, n, off) : 0;
    close(fd);
    out->data_len = r > 0 ? (size_t)r : 0;
    json_t *sha = json_object_get(snap, "sha256");
    out->json = json_pack("{s:b, s:I, s:O}", "ok", 1, "size", (json_int_t)st.st_size, "sha256",
                          sha ? sha : json_null());
    json_decref(show);
    return 0;
}

int hvlink_compat_call(const char *dir, const json_t *req, const void *data, size_t len,
                       struct hv_reply *out)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    memset(out, 0, sizeof *out);
    if (!strcmp(op, "snapshot.read"))
        return snapshot_read(req, out);
    return nv_call(dir, op, req, data, len, out);
}
