/* test_snapshot_store_sha256: the digest against sha256sum, resumed at open, on sparse files. */
#include "base/log.h"
#include "snapshot_store_fixture.h"

#include <errno.h>

static void test_sha256_matches_sha256sum(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct snapshot_info a;
    char want[SNAPSHOT_SHA256_HEX], got[SNAPSHOT_SHA256_HEX], err[256];
    json_t *m;
    int fd;

    (void)state;
    take(s, "request", &a);
    digest(s, a.id, got);
    sha256sum(a.core_path, want);
    assert_string_equal(got, want);
    m = snapshot_store_show(s, a.id);
    assert_string_equal(str(m, "sha256"), want);
    /* Only the data extents were read: the holes were hashed without I/O. */
    assert_true(num(json_object_get(m, "timing"), "hash_read_bytes") < (json_int_t)a.core_bytes);
    json_decref(m);
    assert_int_equal(snapshot_store_verify(s, a.id, err, sizeof(err)), 0);

    /* A flipped byte in the core (bit rot, tampering) is caught by verify. */
    fd = open(a.core_path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 100), 1);
    close(fd);
    assert_int_equal(snapshot_store_verify(s, a.id, err, sizeof(err)), -EBADMSG);
    assert_int_equal(snapshot_store_verify(s, "../x", err, sizeof(err)), -EINVAL);
    assert_int_equal(snapshot_store_verify(s, "nope", err, sizeof(err)), -ENOENT);
    snapshot_store_close(s);
}

/* A snapshot listed with its digest pending (hv died before the digest) is hashed at open. */
static void test_pending_digest_resumed_at_open(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct snapshot_info a, b;
    char hex[SNAPSHOT_SHA256_HEX], again[SNAPSHOT_SHA256_HEX], meta[PATH_MAX], err[256];
    json_error_t jerr;
    json_t *m, *t;
    int rc;

    (void)state;
    take(s, "request", &a);
    digest(s, a.id, hex);
    assert_int_equal(snapshot_store_wait_digest(s, "nope", 0), -ENOENT);
    assert_int_equal(snapshot_store_wait_digest(s, "../x", 0), -EINVAL);
    snapshot_store_close(s);

    /* What a kill -9 between the commit and the digest leaves: "pending", no hash timing. */
    snprintf(meta, sizeof(meta), "%s", a.meta_path);
    m = json_load_file(meta, 0, &jerr);
    assert_non_null(m);
    json_object_set_new(m, "sha256", json_string(SNAPSHOT_SHA256_PENDING));
    t = json_object_get(m, "timing");
    json_object_del(t, "hash_s");
    json_object_del(t, "total_s");
    assert_int_equal(json_dump_file(m, meta, 0), 0);
    json_decref(m);

    s = open_store(0, 0);
    rc = snapshot_store_verify(s, a.id, err, sizeof(err));
    assert_true(rc == -EAGAIN || rc == 0); /* -EAGAIN unless the digester was quicker */
    digest(s, a.id, again);
    assert_string_equal(again, hex);
    assert_int_equal(snapshot_store_verify(s, a.id, err, sizeof(err)), 0);
    /* The file has it too, and no total_s: the write's start is not known after a restart. */
    m = json_load_file(meta, 0, &jerr);
    assert_non_null(m);
    assert_string_equal(str(m, "sha256"), hex);
    assert_true(json_is_real(json_object_get(json_object_get(m, "timing"), "hash_s")));
    assert_null(json_object_get(json_object_get(m, "timing"), "total_s"));
    json_decref(m);

    /* Deleted before (or while) its digest is computed: waiting says so, nothing is left. */
    take(s, "request", &b);
    assert_int_equal(snapshot_store_delete(s, b.id), 0);
    assert_int_equal(snapshot_store_wait_digest(s, b.id, 60000), -ENOENT);
    snapshot_store_close(s);
    assert_int_equal(count_files(".tmp"), 0);
    assert_int_equal(count_files(".json"), 1);
}

/* snapshot_sha256_fd on hand-made sparse shapes: leading and trailing holes, all-hole, empty. */
static void test_sha256_sparse_shapes(void **state)
{
    static const struct {
        off_t at;
        size_t len;
    } data[][3] = {
        {{1 << 20, 4096}, {(5 << 20) + 100, 10}, {0, 0}}, /* holes around and between */
        {{0, 8192}, {0, 0}, {0, 0}},                      /* data first */
        {{0, 0}, {0, 0}, {0, 0}},                         /* only a hole */
    };
    static const off_t sizes[] = {12 << 20, 3 << 20, 7 << 20};
    char path[PATH_MAX], got[SNAPSHOT_SHA256_HEX], want[SNAPSHOT_SHA256_HEX];
    uint8_t buf[8192];
    uint64_t read_bytes;

    (void)state;
    fx_pattern(buf, sizeof(buf), 9);
    snprintf(path, sizeof(path), "%s/shape", g.dir);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        for (size_t k = 0; k < 3 && data[i][k].len; k++)
            assert_int_equal(pwrite(fd, buf, data[i][k].len, data[i][k].at), data[i][k].len);
        assert_int_equal(ftruncate(fd, sizes[i]), 0);
        assert_int_equal(snapshot_sha256_fd(fd, got, &read_bytes), 0);
        sha256sum(path, want);
        assert_string_equal(got, want);
        assert_true(read_bytes <= (1u << 20)); /* data extents only, not megabytes of holes */
        close(fd);
    }
    int fd = open(path, O_RDWR | O_TRUNC);
    assert_int_equal(snapshot_sha256_fd(fd, got, NULL), 0);
    assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* A long extent (read O_DIRECT) ending mid-block at EOF; the fd's flags are restored. */
    for (off_t off = 4096; off < (3 << 20) + 4096; off += sizeof(buf))
        assert_int_equal(pwrite(fd, buf, sizeof(buf), off), sizeof(buf));
    assert_int_equal(pwrite(fd, buf, 123, (3 << 20) + 4096), 123);
    int flags = fcntl(fd, F_GETFL);
    assert_int_equal(snapshot_sha256_fd(fd, got, &read_bytes), 0);
    assert_int_equal(fcntl(fd, F_GETFL), flags);
    assert_int_equal(read_bytes, (3 << 20) + 123);
    sha256sum(path, want);
    assert_string_equal(got, want);

    /* Many small extents (more than a batch holds), a long one, a hole longer than a batch. */
    assert_int_equal(ftruncate(fd, 0), 0);
    for (off_t off = 0; off < 600 * 65536; off += 65536)
        assert_int_equal(pwrite(fd, buf, 4096, off), 4096);
    for (off_t off = 0; off < (2 << 20); off += sizeof(buf))
        assert_int_equal(pwrite(fd, buf, sizeof(buf), (64 << 20) + off), sizeof(buf));
    assert_int_equal(pwrite(fd, buf, 1, 200 << 20), 1);
    assert_int_equal(snapshot_sha256_fd(fd, got, &read_bytes), 0);
    assert_int_equal(read_bytes, 600 * 4096 + (2 << 20) + 1);
    sha256sum(path, want);
    assert_string_equal(got, want);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sha256_matches_sha256sum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_digest_resumed_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_sparse_shapes, setup, teardown),
    };

    log_threshold = LOG_WARN; /* recovery's removals still show */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
