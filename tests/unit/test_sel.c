/* Unit tests for the SEL file: persistence, wrap, recovery from torn and corrupt records. */
#include "fixture.h"

#include "bmc/sel.h"
#include "bmc/sel_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static struct sel *open_ok(const char *path, uint32_t cap)
{
    struct sel *s;
    char err[256] = "";
    int rc = sel_open(&s, path, cap, err, sizeof(err));
    if (rc)
        fail_msg("sel_open: %d %s", rc, err);
    return s;
}

/* Appends n entries whose message encodes the id they should get. */
static void append_n(struct sel *s, uint64_t first, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t id = sel_append(s, SEL_OK, SEL_T_VM_SWITCH, "guest", "n=%llu",
                                 (unsigned long long)(first + (uint64_t)i));
        assert_int_equal(id, first + (uint64_t)i);
    }
}

static void expect_range(struct sel *s, uint64_t lo, uint64_t hi)
{
    struct sel_entry v[64];
    char want[32];
    size_t n = sel_read(s, 0, v, 64);
    assert_int_equal(n, hi - lo + 1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].id, lo + i);
        snprintf(want, sizeof(want), "n=%llu", (unsigned long long)(lo + i));
        assert_string_equal(v[i].message, want);
    }
}

static void patch_file(const char *path, off_t off, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
    close(fd);
}

static off_t rec_off(uint64_t id, uint32_t cap)
{
    return SEL_HDR_SIZE + (off_t)(id % cap) * SEL_REC_SIZE;
}

static void test_append_read_info(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 16);
    struct sel_entry e[4];
    struct sel_info info;

    assert_int_equal(sel_last_id(s), 0);
    assert_int_equal(sel_read(s, 0, e, 4), 0);
    assert_int_equal(sel_append(s, SEL_WARNING, SEL_T_TRAP, NULL, "trap %d at %#x", 3, 0x505), 1);
    assert_int_equal(sel_append(s, SEL_CRITICAL, SEL_T_VM_CRASH, "guest", "triple fault"), 2);
    assert_int_equal(sel_read(s, 0, e, 4), 2);
    assert_string_equal(e[0].message, "trap 3 at 0x505");
    assert_string_equal(e[0].vm, "");
    assert_int_equal(e[1].severity, SEL_CRITICAL);
    assert_int_equal(e[1].type, SEL_T_VM_CRASH);
    assert_string_equal(e[1].vm, "guest");
    assert_true(e[1].time_ns >= e[0].time_ns && e[0].time_ns > 1600000000LL * 1000000000);
    assert_int_equal(sel_read(s, 1, e, 4), 1);
    assert_int_equal(e[0].id, 2);
    assert_int_equal(sel_read(s, 2, e, 4), 0);
    sel_get_info(s, &info);
    assert_int_equal(info.capacity, 16);
    assert_int_equal(info.count, 2);
    assert_int_equal(info.first_id, 1);
    assert_int_equal(info.last_id, 2);
    assert_true(info.durable);
    assert_int_equal(info.io_errors, 0);
    sel_close(s);
}

static void test_persist_across_reopen(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 32);
    append_n(s, 1, 10);
    sel_close(s);
    s = open_ok(f->path, 0); /* 0: keep the file's capacity */
    struct sel_info info;
    sel_get_info(s, &info);
    assert_int_equal(info.capacity, 32);
    assert_int_equal(info.discarded, 0);
    expect_range(s, 1, 10);
    append_n(s, 11, 5);
    sel_close(s);
    s = open_ok(f->path, 32);
    expect_range(s, 1, 15);
    sel_close(s);
}

static void test_wrap_keeps_newest(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8);
    append_n(s, 1, 21);
    expect_range(s, 14, 21);
    sel_close(s);
    s = open_ok(f->path, 8);
    expect_range(s, 14, 21);
    append_n(s, 22, 3); /* ids keep rising after a restart on a wrapped ring */
    expect_range(s, 17, 24);
    struct sel_entry e[8];
    assert_int_equal(sel_read(s, 3, e, 8), 8); /* a follower that fell behind resumes at oldest */
    assert_int_equal(e[0].id, 17);
    sel_close(s);
}

static void test_torn_last_record_ignored(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 16);
    append_n(s, 1, 5);
    sel_close(s);
    /* The file is preallocated, so "torn" means the tail of record 5 never reached disk. */
    uint8_t zero[SEL_REC_SIZE - 64] = {0}; /* keeps the id, loses the message */
    patch_file(f->path, rec_off(5, 16) + 64, zero, sizeof(zero));
    s = open_ok(f->path, 16);
    struct sel_entry e[8];
    assert_int_equal(sel_read(s, 0, e, 8), 5);
    for (int i = 0; i < 4; i++)
        assert_int_equal(e[i].id, (uint64_t)i + 1);
    /* The torn id was never acknowledged, so recovery reuses it for its own warning. */
    assert_int_equal(e[4].id, 5);
    assert_int_equal(e[4].severity, SEL_WARNING);
    assert_non_null(strstr(e[4].message, "dropped 1 torn"));
    sel_close(s);
}

static void test_truncated_file(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 16);
    append_n(s, 1, 6);
    sel_close(s);
    assert_int_equal(truncate(f->path, rec_off(6, 16) + 200), 0);
    s = open_ok(f->path, 16);
    struct sel_info info;
    sel_get_info(s, &info);
    assert_int_equal(info.discarded, 1);
    assert_int_equal(info.last_id, 6); /* 1..5 plus the recovery warning */
    append_n(s, 7, 12);                /* writes extend the file again, wrapping past 16 */
    sel_close(s);
    s = open_ok(f->path, 16);
    sel_get_info(s, &info);
    assert_int_equal(info.discarded, 0);
    assert_int_equal(info.count, 16);
    assert_int_equal(info.first_id, 3);
    sel_close(s);
}

static void test_corrupt_records_dropped(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 16);
    append_n(s, 1, 6);
    sel_close(s);
    uint8_t junk = 0x5a;
    patch_file(f->path, rec_off(3, 16) + 120, &junk, 1); /* bit rot in a middle record */
    patch_file(f->path, rec_off(6, 16) + 40, &junk, 1);  /* and in the last one */
    s = open_ok(f->path, 16);
    struct sel_entry e[8];
    size_t n = sel_read(s, 0, e, 8);
    assert_int_equal(n, 5);
    uint64_t want[] = {1, 2, 4, 5, 6};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(e[i].id, want[i]);
    assert_non_null(strstr(e[4].message, "dropped 2 torn or corrupt"));
    sel_close(s);
}

static void test_stale_lap_not_resurrected(void **state)
{
    struct fx *f = *state;
    uint8_t old[SEL_REC_SIZE];
    struct sel *s = open_ok(f->path, 4);
    append_n(s, 1, 4);
    sel_close(s);
    int fd = open(f->path, O_RDONLY);
    assert_int_equal(pread(fd, old, sizeof(old), rec_off(1, 4)), SEL_REC_SIZE);
    close(fd);
    s = open_ok(f->path, 4);
    append_n(s, 5, 4);
    sel_close(s);
    /* Slot 1 reverts to id 1 (as if the write of id 5 was lost): valid CRC, but a lap old. */
    patch_file(f->path, rec_off(1, 4), old, sizeof(old));
    s = open_ok(f->path, 4);
    expect_range(s, 6, 8);
    sel_close(s);
}

static void test_bad_header_moved_aside(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8);
    append_n(s, 1, 3);
    sel_close(s);
    patch_file(f->path, 2, "X", 1);
    s = open_ok(f->path, 8);
    struct sel_entry e[4];
    assert_int_equal(sel_read(s, 0, e, 4), 1);
    assert_int_equal(e[0].severity, SEL_CRITICAL);
    assert_non_null(strstr(e[0].message, "header was damaged"));
    sel_close(s);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "ls %s/sel.bin.corrupt-* >/dev/null", f->dir);
    assert_int_equal(system(cmd), 0);
}

static void test_capacity_change(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8);
    append_n(s, 1, 8);
    sel_close(s);
    s = open_ok(f->path, 4);
    expect_range(s, 5, 8);
    sel_close(s);
    s = open_ok(f->path, 16);
    expect_range(s, 5, 8);
    append_n(s, 9, 8);
    expect_range(s, 5, 16);
    sel_close(s);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, SEL_HDR_SIZE + 16 * SEL_REC_SIZE);
}

static void test_clear(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8);
    append_n(s, 1, 10);
    assert_int_equal(sel_clear(s, "admin"), 11);
    struct sel_entry e[8];
    assert_int_equal(sel_read(s, 0, e, 8), 1);
    assert_int_equal(e[0].type, SEL_T_LOG_CLEARED);
    assert_string_equal(e[0].message, "Log cleared by admin");
    assert_int_equal(sel_read(s, 5, e, 8), 1); /* a follower sees the clear itself */
    sel_close(s);
    s = open_ok(f->path, 8);
    assert_int_equal(sel_read(s, 0, e, 8), 1);
    assert_int_equal(e[0].id, 11);
    assert_int_equal(sel_append(s, SEL_OK, SEL_T_OPERATOR, NULL, "after"), 12);
    sel_close(s);
}

static void test_second_opener_refused(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8), *s2;
    char err[256];
    assert_int_equal(sel_open(&s2, f->path, 8, err, sizeof(err)), -EBUSY);
    assert_non_null(strstr(err, "in use"));
    sel_close(s);
}

static void test_truncation_and_sanitising(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[SEL_MSG_MAX - 5] = (char)0xc3; /* a 2-byte character right at the cut */
    big[SEL_MSG_MAX - 4] = (char)0xa9;
    char longvm[100];
    memset(longvm, 'v', sizeof(longvm) - 1);
    longvm[sizeof(longvm) - 1] = '\0';
    sel_append(s, SEL_OK, SEL_T_OTHER, longvm, "%s", big);
    sel_append(s, SEL_OK, SEL_T_OTHER, "g",
               "bad \xff\xfe utf8\nline\ttab \xed\xa0\x80 \xe2\x82\xac");
    struct sel_entry e[2];
    assert_int_equal(sel_read(s, 0, e, 2), 2);
    size_t len = strlen(e[0].message);
    assert_true(len <= SEL_MSG_MAX - 1);
    assert_string_equal(e[0].message + len - 3, "...");
    assert_int_equal(strlen(e[0].vm), SEL_VM_MAX - 1);
    assert_string_equal(e[1].message, "bad ?? utf8 line tab ??? \xe2\x82\xac");
    for (int i = 0; i < 2; i++) {
        json_t *j = sel_entry_json(&e[i]);
        assert_non_null(j); /* Jansson refuses invalid UTF-8, so this proves the sanitising */
        json_decref(j);
    }
    sel_close(s);
}

static void test_json_and_names(void **state)
{
    (void)state;
    struct sel_entry e = {.id = 42,
                          .time_ns = 1700000000123456789LL,
                          .severity = SEL_WARNING,
                          .type = SEL_T_SENSOR_TEMP};
    snprintf(e.vm, sizeof(e.vm), "guest");
    snprintf(e.message, sizeof(e.message), "CPU Temp crossed UpperCaution");
    json_t *j = sel_entry_json(&e);
    assert_string_equal(json_string_value(json_object_get(j, "Id")), "42");
    assert_string_equal(json_string_value(json_object_get(j, "EntryType")), "SEL");
    assert_string_equal(json_string_value(json_object_get(j, "Created")),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "Severity")), "Warning");
    assert_string_equal(json_string_value(json_object_get(j, "SensorType")), "Temperature");
    assert_string_equal(json_string_value(json_object_get(j, "EntryCode")), "Assert");
    json_t *oem = json_object_get(json_object_get(j, "Oem"), "Vigil");
    assert_string_equal(json_string_value(json_object_get(oem, "VM")), "guest");
    assert_string_equal(json_string_value(json_object_get(oem, "EventType")), "sensor_temperature");
    json_decref(j);
    for (int t = 0; t < SEL_T_COUNT; t++) {
        assert_int_equal(sel_type_parse(sel_type_name((enum sel_type)t)), t);
        assert_non_null(sel_type_redfish((enum sel_type)t));
    }
    assert_string_equal(sel_type_name((enum sel_type)200), "unknown");
    assert_int_equal(sel_severity_parse("critical"), SEL_CRITICAL);
    assert_int_equal(sel_type_parse("nope"), -1);
    char buf[40];
    sel_format_time(0, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_info, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_persist_across_reopen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrap_keeps_newest, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_record_ignored, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_records_dropped, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stale_lap_not_resurrected, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_header_moved_aside, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_capacity_change, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_clear, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_opener_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncation_and_sanitising, fx_setup, fx_teardown),
        cmocka_unit_test(test_json_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
