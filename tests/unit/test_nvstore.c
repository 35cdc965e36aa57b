/* test_nvstore: NV records: keys, bounds, atomic replacement, persistence, leftovers of a crash. */
#include "nv/nvstore.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];
static char nvdir[96];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/dev/shm/test_nvstore.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(nvdir, sizeof nvdir, "%s/nv", dir);
    return 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct nvstore *open_store(void)
{
    struct nvstore *s = NULL;
    char err[256] = "";
    int rc = nvstore_open(&s, dir, err, sizeof err);
    if (rc)
        print_error("open: %s\n", err);
    assert_int_equal(rc, 0);
    return s;
}

static void put_ok(struct nvstore *s, const char *key, const void *v, size_t len)
{
    char err[256] = "";
    int rc = nvstore_put(s, key, v, len, err, sizeof err);
    if (rc)
        print_error("put %s: %s\n", key, err);
    assert_int_equal(rc, 0);
}

static void assert_value(struct nvstore *s, const char *key, const void *v, size_t len)
{
    uint8_t *got;
    size_t n;
    char err[256];
    assert_int_equal(nvstore_get(s, key, &got, &n, err, sizeof err), 0);
    assert_int_equal(n, len);
    if (len)
        assert_memory_equal(got, v, len);
    free(got);
}

static void test_round_trip_and_modes(void **state)
{
    (void)state;
    struct nvstore *s = open_store();
    struct stat st;
    assert_int_equal(stat(nvdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    put_ok(s, "accounts.json", "{\"a\":1}", 7);
    put_ok(s, "tls-key_v1", "KEY", 3);
    put_ok(s, "empty", "", 0);
    assert_value(s, "accounts.json", "{\"a\":1}", 7);
    assert_value(s, "empty", "", 0);
    put_ok(s, "accounts.json", "{}", 2); /* replaced, not appended */
    assert_value(s, "accounts.json", "{}", 2);
    char path[160];
    snprintf(path, sizeof path, "%s/accounts.json", nvdir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    json_t *l = nvstore_list(s);
    assert_int_equal(json_array_size(l), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "key")),
                        "accounts.json");
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "key")), "empty");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 2), "size")), 3);
    json_decref(l);
    char err[256];
    assert_int_equal(nvstore_delete(s, "empty", err, sizeof err), 0);
    assert_int_equal(nvstore_delete(s, "empty", err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "no NV record \"empty\""));
    uint8_t *v;
    size_t n;
    assert_int_equal(nvstore_get(s, "empty", &v, &n, err, sizeof err), -ENOENT);
    nvstore_close(s);
}

static void test_bad_keys(void **state)
{
    (void)state;
    struct nvstore *s = open_store();
    char err[256], long_key[NV_KEY_MAX + 2];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    const char *bad[] = {"", ".hidden", "../etc", "a/b", "sp ace", "ü", long_key};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(nvstore_put(s, bad[i], "x", 1, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "key"));
    }
    long_key[NV_KEY_MAX] = 0; /* exactly the maximum is fine */
    put_ok(s, long_key, "x", 1);
    unsigned count;
    uint64_t bytes;
    nvstore_usage(s, &count, &bytes);
    assert_int_equal(count, 1);
    nvstore_close(s);
}

static void test_bounds(void **state)
{
    (void)state;
    struct nvstore *s = open_store();
    char err[256], key[16];
    uint8_t *big = calloc(1, NV_VALUE_MAX + 1);
    assert_int_equal(nvstore_put(s, "big", big, NV_VALUE_MAX + 1, err, sizeof err), -ENOSPC);
    assert_non_null(strstr(err, "at most 65536 bytes"));
    /* 4 MiB in 64 full records: the 65th does not fit, a replacement still does. */
    for (unsigned i = 0; i < NV_TOTAL_MAX / NV_VALUE_MAX; i++) {
        snprintf(key, sizeof key, "r%03u", i);
        put_ok(s, key, big, NV_VALUE_MAX);
    }
    assert_int_equal(nvstore_put(s, "one-more", big, 1, err, sizeof err), -ENOSPC);
    assert_non_null(strstr(err, "maximum of 4194304"));
    put_ok(s, "r000", big, 10);
    /* The count bound: 256 records. */
    for (unsigned i = 0; i < NV_TOTAL_MAX / NV_VALUE_MAX; i++) {
        snprintf(key, sizeof key, "r%03u", i);
        assert_int_equal(nvstore_delete(s, key, err, sizeof err), 0);
    }
    for (unsigned i = 0; i < NV_RECORDS_MAX; i++) {
        snprintf(key, sizeof key, "n%03u", i);
        put_ok(s, key, "v", 1);
    }
    assert_int_equal(nvstore_put(s, "n999", "v", 1, err, sizeof err), -ENOSPC);
    assert_non_null(strstr(err, "maximum of 256 records"));
    put_ok(s, "n000", "w", 1);
    free(big);
    nvstore_close(s);
}

static void test_reopen_and_leftovers(void **state)
{
    (void)state;
    struct nvstore *s = open_store();
    put_ok(s, "settings", "on", 2);
    nvstore_close(s);
    /* What a writer killed mid-put leaves: its tmp file.  The record keeps its old value. */
    char path[160];
    snprintf(path, sizeof path, "%s/.settings.tmp", nvdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "half", 4), 4);
    close(fd);
    snprintf(path, sizeof path, "%s/not a key", nvdir); /* a stranger: ignored, kept */
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    s = open_store();
    snprintf(path, sizeof path, "%s/.settings.tmp", nvdir);
    assert_int_equal(access(path, F_OK), -1);
    assert_value(s, "settings", "on", 2);
    json_t *l = nvstore_list(s);
    assert_int_equal(json_array_size(l), 1);
    json_decref(l);
    put_ok(s, "settings", "off", 3); /* and a put after the crash works */
    nvstore_close(s);
    s = open_store();
    assert_value(s, "settings", "off", 3);
    nvstore_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_and_leftovers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
