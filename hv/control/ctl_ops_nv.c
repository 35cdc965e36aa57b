/* ctl_ops_nv.c: control operations for the service side's storage: NV records, and bulk reads
 * of snapshot cores (crash-core downloads). */
#include "control/ctl_ops.h"

#include "evidence/snapshot_store.h"
#include "nv/nvstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAPSHOT_READ_MAX VIGIL_CTL_DATA_MAX /* one read's bytes: the framing's payload limit */

static const char *nv_code(int rc)
{
    return rc == -EINVAL   ? "EINVAL"
           : rc == -ENOENT ? "ENOENT"
           : rc == -ENOSPC ? "ENOSPC"
           : rc == -ENOMEM ? "ENOMEM"
                           : "EIO";
}

/* The string field "key", or NULL with *err set. */
static const char *arg_key(struct hv *hv, const struct ctl_msg *req, json_t **err)
{
    if (!hv->nv) {
        *err = ctl_error("ENOSYS", "hv has no NV store (it could not be opened at start)");
        return NULL;
    }
    json_t *k = json_object_get(req->json, "key");
    char why[128];
    if (!json_is_string(k)) {
        *err = ctl_error("EINVAL", "field \"key\" must be a string ([A-Za-z0-9._-]{1,%u})",
                         NV_KEY_MAX);
        return NULL;
    }
    if (!nvstore_key_valid(json_string_value(k), why, sizeof why)) {
        *err = ctl_error("EINVAL", "field \"key\": %s", why);
        return NULL;
    }
    return json_string_value(k);
}

json_t *op_nv_put(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    const char *key = arg_key(hv, req, &err);
    if (!key)
        return err;
    char why[256];
    int rc = nvstore_put(hv->nv, key, req->data, req->data_len, why, sizeof why);
    if (rc < 0)
        return ctl_error(nv_code(rc), "%s", why);
    return json_pack("{s:b, s:I}", "ok", 1, "size", (json_int_t)req->data_len);
}

json_t *op_nv_get(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    json_t *err = NULL;
    const char *key = arg_key(hv, req, &err);
    if (!key)
        return err;
    char why[256];
    size_t len;
    int rc = nvstore_get(hv->nv, key, &out->data, &len, why, sizeof why);
    if (rc < 0)
        return ctl_error(nv_code(rc), "%s", why);
    out->data_len = (uint32_t)len;
    return json_pack("{s:b, s:I}", "ok", 1, "size", (json_int_t)len);
}

json_t *op_nv_delete(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    const char *key = arg_key(hv, req, &err);
    if (!key)
        return err;
    char why[256];
    int rc = nvstore_delete(hv->nv, key, why, sizeof why);
    if (rc < 0)
        return ctl_error(nv_code(rc), "%s", why);
    return json_pack("{s:b}", "ok", 1);
}

json_t *op_nv_list(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)req, (void)out;
    if (!hv->nv)
        return ctl_error("ENOSYS", "hv has no NV store (it could not be opened at start)");
    unsigned count;
    uint64_t bytes;
    nvstore_usage(hv->nv, &count, &bytes);
    return json_pack("{s:b, s:o, s:I, s:I, s:i, s:i}", "ok", 1, "records", nvstore_list(hv->nv),
                     "bytes", (json_int_t)bytes, "max_bytes", (json_int_t)NV_TOTAL_MAX,
                     "max_records", NV_RECORDS_MAX, "max_value", NV_VALUE_MAX);
}

json_t *op_snapshot_read(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    json_t *err = NULL;
    const char *id = json_string_value(json_object_get(req->json, "id"));
    int64_t off = ctl_arg_uint(req, "offset", 0, &err);
    int64_t len = ctl_arg_uint(req, "len", -1, &err);
    if (err)
        return err;
    if (!id || !snapshot_id_valid(id))
        return ctl_error("EINVAL",
                         "field \"id\" must be a snapshot id ([A-Za-z0-9_-], at most 63)");
    if (len < 1 || len > SNAPSHOT_READ_MAX)
        return ctl_error("EINVAL", "field \"len\" must be 1..%u", SNAPSHOT_READ_MAX);
    json_t *meta = snapshot_store_show(hv->snapshots, id);
    char path[4096];
    if (!meta || snapshot_store_core_path(hv->snapshots, id, path, sizeof path) < 0) {
        json_decref(meta);
        return ctl_error("ENOENT", "no snapshot \"%s\"", id);
    }
    const char *sha = json_string_value(json_object_get(meta, "sha256"));
    json_t *sha_j = json_string(sha ? sha : "pending");
    json_decref(meta);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        json_decref(sha_j);
        return ctl_error(e == ENOENT ? "ENOENT" : "EIO", "snapshot \"%s\": %s", id, strerror(e));
    }
    uint64_t size = (uint64_t)st.st_size;
    uint64_t n = (uint64_t)off >= size ? 0 : size - (uint64_t)off;
    if (n > (uint64_t)len)
        n = (uint64_t)len;
    /* "holes": a reader that can make zeros itself (the uploader) is told of a hole instead of
     * sent it, and a read stops where the next hole starts. */
    if (n && json_is_true(json_object_get(req->json, "holes"))) {
        off_t data = lseek(fd, (off_t)off, SEEK_DATA);
        off_t hole = data == (off_t)off ? lseek(fd, (off_t)off, SEEK_HOLE) : -1;
        if ((data < 0 && errno == ENXIO) || data > (off_t)off) {
            uint64_t zeros = data < 0 ? n : (uint64_t)(data - (off_t)off);
            close(fd);
            return json_pack("{s:b, s:I, s:I, s:I, s:I, s:o}", "ok", 1, "offset", (json_int_t)off,
                             "size", (json_int_t)size, "len", (json_int_t)0, "hole",
                             (json_int_t)(zeros < n ? zeros : n), "sha256", sha_j);
        }
        if (hole > (off_t)off && (uint64_t)(hole - (off_t)off) < n)
            n = (uint64_t)(hole - (off_t)off);
    }
    /* The page cache usually has it (written recently); a core is sparse, and holes read fast. */
    out->data = n ? malloc(n) : NULL;
    uint64_t got = 0;
    while (out->data && got < n) {
        ssize_t r = pread(fd, out->data + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    close(fd);
    if (n && (!out->data || got != n)) {
        const char *code = out->data ? "EIO" : "ENOMEM";
        free(out->data);
        out->data = NULL;
        json_decref(sha_j);
        return ctl_error(code, "snapshot \"%s\": read %llu of %llu bytes", id,
                         (unsigned long long)got, (unsigned long long)n);
    }
    out->data_len = (uint32_t)n;
    return json_pack("{s:b, s:I, s:I, s:I, s:o}", "ok", 1, "offset", (json_int_t)off, "size",
                     (json_int_t)size, "len", (json_int_t)n, "sha256", sha_j);
}
