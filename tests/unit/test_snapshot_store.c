/* test_snapshot_store: write/list/show/delete, evidence, retention, ids, bad requests, threads. */
#include "base/log.h"
#include "snapshot_store_fixture.h"

#include <errno.h>
#include <pthread.h>

static void test_write_list_show_delete(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct snapshot_info a, b;
    json_t *exc = json_pack("{s:i, s:i, s:b, s:b}", "nr", 14, "error_code", 2, "has_error_code", 1,
                            "nmi_pending", 0);
    struct snapshot_request req = request("trap:page_fault", 42, exc);
    char err[256], path[PATH_MAX], core[PATH_MAX], hex[SNAPSHOT_SHA256_HEX];
    struct stat sb;
    json_t *l, *m;

    (void)state;
    assert_int_equal(snapshot_store_write(s, &req, &a, err, sizeof(err)), 0);
    assert_string_equal(a.sha256, SNAPSHOT_SHA256_PENDING); /* the digest comes after */
    assert_true(a.durable_seconds > 0 && a.durable_seconds <= a.total_seconds);
    json_object_set_new(exc, "nr", json_integer(99)); /* the store kept its own copy */
    take(s, "request", &b);
    json_decref(exc);
    assert_true(strcmp(a.id, b.id) < 0);
    assert_int_equal(stat(a.core_path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, a.core_bytes);
    assert_int_equal((uint64_t)sb.st_blocks * 512, a.core_allocated_bytes);
    assert_true(a.core_allocated_bytes < a.core_bytes / 2); /* sparse: 18 MiB guest, ~2 MiB data */
    assert_int_equal(stat(a.meta_path, &sb), 0);
    digest(s, a.id, hex);

    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(str(json_array_get(l, 0), "id"), a.id); /* oldest first */
    assert_string_equal(str(json_array_get(l, 1), "id"), b.id);
    json_decref(l);

    m = snapshot_store_show(s, a.id);
    assert_non_null(m);
    assert_string_equal(str(m, "vm"), "guest");
    assert_string_equal(str(m, "trigger"), "trap:page_fault");
    assert_int_equal(num(m, "sel_id"), 42);
    assert_int_equal(num(m, "vcpus"), 2);
    assert_string_equal(str(m, "rip"), "0x100000");
    assert_string_equal(str(json_object_get(m, "registers"), "cr2"), "0xdead000");
    assert_string_equal(str(json_object_get(m, "registers"), "efer"), "0xd01");
    assert_int_equal(num(json_object_get(m, "exception"), "nr"), 14);
    assert_true(json_is_true(json_object_get(json_object_get(m, "exception"), "has_error_code")));
    assert_int_equal(num(m, "core_bytes"), (json_int_t)a.core_bytes);
    assert_int_equal(num(m, "core_allocated_bytes"), (json_int_t)a.core_allocated_bytes);
    assert_string_equal(str(m, "sha256"), hex);
    assert_null(json_object_get(m, "sha256_error"));
    assert_int_equal(num(json_object_get(m, "coredump"), "data_bytes"), FX_DATA_BYTES);
    assert_int_equal(strlen(str(m, "time")), 24); /* 2024-05-01T12:34:56.789Z */
    assert_true(json_is_real(json_object_get(json_object_get(m, "timing"), "hash_s")));
    assert_true(json_is_real(json_object_get(json_object_get(m, "timing"), "durable_s")));
    assert_true(json_is_real(json_object_get(json_object_get(m, "timing"), "total_s")));
    json_decref(m);

    assert_int_equal(snapshot_store_core_path(s, b.id, path, sizeof(path)), 0);
    assert_string_equal(path, b.core_path);
    assert_int_equal(snapshot_store_core_path(s, b.id, path, 8), -ENAMETOOLONG);
    assert_int_equal(snapshot_store_core_path(s, "20990101-000000-000001", path, sizeof(path)),
                     -ENOENT);

    snprintf(core, sizeof(core), "%s", a.core_path);
    assert_int_equal(snapshot_store_delete(s, a.id), 0);
    assert_int_equal(snapshot_store_delete(s, a.id), -ENOENT);
    assert_null(snapshot_store_show(s, a.id));
    assert_int_not_equal(stat(core, &sb), 0);
    assert_int_not_equal(stat(a.meta_path, &sb), 0);
    snapshot_store_close(s);

    /* After a restart: the same content, and ids keep increasing. */
    s = open_store(0, 0);
    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(str(json_array_get(l, 0), "id"), b.id);
    json_decref(l);
    take(s, "request", &a);
    assert_true(strcmp(a.id + 16, b.id + 16) > 0);
    snapshot_store_close(s);
}

/* hv's crash evidence joins the top level, and the summary shows the vCPU it names. */
static void test_evidence_and_summary_vcpu(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct snapshot_request req = request("trap:guest_panic", 3, NULL);
    json_t *ev =
        json_pack("{s:b, s:s, s:i, s:{s:i, s:s}}", "registers_lost", 0, "registers_from",
                  "fault_report", "registers_vcpu", 1, "fault", "vector", 6, "name", "#UD");
    struct snapshot_info a, b;
    char err[256] = "";
    json_t *m;

    (void)state;
    req.evidence = ev;
    req.summary_vcpu = 1;
    assert_int_equal(snapshot_store_write(s, &req, &a, err, sizeof(err)), 0);
    json_object_set_new(ev, "registers_from", json_string("vcpu")); /* the store copied it */
    req.evidence = NULL;
    req.summary_vcpu = 7; /* out of range: vCPU 0 */
    assert_int_equal(snapshot_store_write(s, &req, &b, err, sizeof(err)), 0);
    json_decref(ev);

    m = snapshot_store_show(s, a.id);
    assert_string_equal(str(m, "registers_from"), "fault_report");
    assert_true(json_is_false(json_object_get(m, "registers_lost")));
    assert_int_equal(num(m, "registers_vcpu"), 1);
    assert_int_equal(num(json_object_get(m, "fault"), "vector"), 6);
    assert_string_equal(str(m, "rip"), "0x100010"); /* vCPU 1's */
    assert_string_equal(str(json_object_get(m, "registers"), "rip"), "0x100010");
    assert_string_equal(str(m, "vm"), "guest"); /* the store's own members are all there */
    json_decref(m);
    m = snapshot_store_show(s, b.id);
    assert_string_equal(str(m, "rip"), "0x100000");
    assert_null(json_object_get(m, "registers_from"));
    json_decref(m);
    snapshot_store_close(s);
}

static void test_retention_by_count(void **state)
{
    struct snapshot_store *s = open_store(2, 0);
    struct snapshot_info v[4];
    json_t *l;

    (void)state;
    for (int i = 0; i < 4; i++)
        take(s, "request", &v[i]);
    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(str(json_array_get(l, 0), "id"), v[2].id);
    assert_string_equal(str(json_array_get(l, 1), "id"), v[3].id);
    json_decref(l);
    assert_false(exists(snapdir, strrchr(v[0].core_path, '/') + 1));
    assert_false(exists(snapdir, strrchr(v[1].meta_path, '/') + 1));
    assert_int_equal(count_files(".core"), 2);
    assert_int_equal(count_files(".json"), 2);
    snapshot_store_close(s);

    /* A lower limit applies at the next open, keeping the newest. */
    s = open_store(1, 0);
    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(str(json_array_get(l, 0), "id"), v[3].id);
    json_decref(l);
    snapshot_store_close(s);
}

static void test_retention_by_bytes(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct snapshot_info a, b, c;
    unsigned n;
    uint64_t one, total;
    json_t *l;

    (void)state;
    take(s, "request", &a);
    snapshot_store_usage(s, &n, &one);
    assert_int_equal(n, 1);
    assert_true(one >= a.core_allocated_bytes && one < a.core_allocated_bytes + 65536);
    snapshot_store_close(s);

    /* Room for one and a half: each write pushes the previous one out. */
    s = open_store(0, one * 3 / 2);
    take(s, "request", &b);
    take(s, "request", &c);
    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 1);
    assert_string_equal(str(json_array_get(l, 0), "id"), c.id);
    json_decref(l);
    snapshot_store_close(s);

    /* A limit below one snapshot still keeps the one just written. */
    s = open_store(0, 4096);
    take(s, "request", &a);
    snapshot_store_usage(s, &n, &total);
    assert_int_equal(n, 1);
    assert_true(total > 4096);
    l = snapshot_store_list(s);
    assert_string_equal(str(json_array_get(l, 0), "id"), a.id);
    json_decref(l);
    snapshot_store_close(s);
}

static void test_invalid_ids(void **state)
{
    static const char *bad[] = {
        "",    ".",
        "..",  "../x",
        "a/b", "a.b",
        "a b", "x\n",
        "é",   "0123456789012345678901234567890123456789012345678901234567890123"};
    struct snapshot_store *s = open_store(0, 0);
    char path[PATH_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(snapshot_id_valid(bad[i]));
        assert_null(snapshot_store_show(s, bad[i]));
        assert_int_equal(snapshot_store_delete(s, bad[i]), -EINVAL);
        assert_int_equal(snapshot_store_core_path(s, bad[i], path, sizeof(path)), -EINVAL);
    }
    assert_false(snapshot_id_valid(NULL));
    assert_true(snapshot_id_valid("20240501-123456-000001"));
    assert_true(snapshot_id_valid("A_z-9"));
    assert_true(
        snapshot_id_valid("012345678901234567890123456789012345678901234567890123456789012"));
    snapshot_store_close(s);
}

static void test_bad_requests_leave_nothing(void **state)
{
    struct snapshot_store *s = open_store(0, 0), *s2 = NULL;
    struct snapshot_request req = request("request", 0, NULL);
    struct core_mem_range swapped[2] = {g.r[1], g.r[0]}; /* not ascending: coredump refuses */
    json_t *arr = json_array();
    char err[256] = "";

    (void)state;
    req.vm = NULL;
    assert_int_equal(snapshot_store_write(s, &req, NULL, err, sizeof(err)), -EINVAL);
    req = request("request", 0, arr);
    assert_int_equal(snapshot_store_write(s, &req, NULL, err, sizeof(err)), -EINVAL);
    req = request("\xff\xfe", 0, NULL);
    assert_int_equal(snapshot_store_write(s, &req, NULL, err, sizeof(err)), -EINVAL);
    req = request("request", 0, NULL);
    req.ranges = swapped;
    assert_true(snapshot_store_write(s, &req, NULL, err, sizeof(err)) < 0);
    assert_true(strlen(err) > 0);
    json_decref(arr);
    assert_int_equal(count_files(""), 0);
    /* A second monitor on the same store is refused. */
    assert_int_equal(snapshot_store_open(&s2, g.dir, 0, 0, err, sizeof(err)), -EBUSY);
    assert_null(s2);
    snapshot_store_close(s);
}

struct writer {
    struct snapshot_store *s;
    struct snapshot_info info[3];
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    for (int i = 0; i < 3; i++) {
        struct snapshot_request req = request("request", (uint64_t)i, NULL);
        if (snapshot_store_write(w->s, &req, &w->info[i], NULL, 0) != 0)
            return arg;
        json_decref(snapshot_store_list(w->s));
    }
    return NULL;
}

/* Writers on several threads at once, listing meanwhile: unique ids, all complete, in order. */
static void test_concurrent_writers(void **state)
{
    struct snapshot_store *s = open_store(0, 0);
    struct writer w[4];
    pthread_t t[4];
    json_t *l;

    (void)state;
    for (int i = 0; i < 4; i++) {
        w[i].s = s;
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *rv;
        assert_int_equal(pthread_join(t[i], &rv), 0);
        assert_null(rv);
    }
    l = snapshot_store_list(s);
    assert_int_equal(json_array_size(l), 12);
    for (size_t i = 1; i < 12; i++)
        assert_true(num(json_array_get(l, i - 1), "seq") < num(json_array_get(l, i), "seq"));
    json_decref(l);
    assert_int_equal(count_files(".core"), 12);
    assert_int_equal(count_files(".json"), 12);
    snapshot_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_list_show_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_and_summary_vcpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
    };

    log_threshold = LOG_WARN; /* recovery's removals still show */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
