/* Unit tests for the SEL: persistence, wrap, recovery from torn/corrupt records, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sel.h"
#include "sel_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char path[96];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/vigil-sel-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/sel.bin", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

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

enum { THREADS = 8, PER_THREAD = 250 };

struct worker {
    struct sel *s;
    int no;
};

static void *appender(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++)
        sel_append(w->s, SEL_OK, SEL_T_ACTION, NULL, "t%d i%d", w->no, i);
    return NULL;
}

static void check_threads(struct sel *s)
{
    static struct sel_entry e[THREADS * PER_THREAD];
    int next[THREADS] = {0};
    size_t n = sel_read(s, 0, e, THREADS * PER_THREAD);
    assert_int_equal(n, THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++) {
        int t, k;
        assert_int_equal(e[i].id, i + 1);
        assert_int_equal(sscanf(e[i].message, "t%d i%d", &t, &k), 2);
        assert_int_equal(k, next[t]++); /* each thread's entries stay in its own order */
    }
}

static void test_concurrent_appends(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 4096);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){s, i};
        pthread_create(&th[i], NULL, appender, &w[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    check_threads(s);
    sel_close(s);
    s = open_ok(f->path, 4096);
    check_threads(s);
    sel_close(s);
}

static void *late_append(void *arg)
{
    usleep(50000);
    sel_append(arg, SEL_OK, SEL_T_OPERATOR, NULL, "wake up");
    return NULL;
}

static void test_wait_and_eventfd(void **state)
{
    struct fx *f = *state;
    struct sel *s = open_ok(f->path, 8);
    pthread_t th;
    uint64_t v;
    struct pollfd pfd = {.fd = sel_event_fd(s), .events = POLLIN};

    assert_int_equal(sel_wait(s, 0, 20), 0); /* times out */
    assert_int_equal(poll(&pfd, 1, 0), 0);
    pthread_create(&th, NULL, late_append, s);
    assert_int_equal(sel_wait(s, 0, 5000), 1);
    pthread_join(th, NULL);
    assert_int_equal(poll(&pfd, 1, 0), 1);
    assert_int_equal(read(pfd.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(sel_wait(s, 0, 0), 1);
    sel_close(s);
}

/* A child appends as fast as it can and reports each acknowledged id; we kill -9 it. */
static uint64_t crash_round(const char *path, bool durable, useconds_t delay)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sel *s;
        char err[256];
        close(p[0]);
        if (sel_open(&s, path, 64, err, sizeof(err)))
            _exit(2);
        sel_set_durable(s, durable);
        for (;;) {
            uint64_t id = sel_append(s, SEL_OK, SEL_T_ACTION, "g", "id=%llu payload",
                                     (unsigned long long)(sel_last_id(s) + 1));
            if (write(p[1], &id, sizeof(id)) != sizeof(id))
                _exit(3);
        }
    }
    close(p[1]);
    usleep(delay);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    uint64_t acked = 0, id;
    while (read(p[0], &id, sizeof(id)) == sizeof(id))
        acked = id;
    close(p[0]);

    struct sel *s = open_ok(path, 64);
    static struct sel_entry e[64];
    struct sel_info info;
    sel_get_info(s, &info);
    assert_int_equal(info.discarded, 0); /* kill -9 never tears a record: only power loss can */
    assert_true(info.last_id >= acked);
    size_t n = sel_read(s, 0, e, 64);
    assert_int_equal(n, info.count);
    for (size_t i = 0; i < n; i++) {
        char want[48];
        if (i)
            assert_int_equal(e[i].id, e[i - 1].id + 1);
        snprintf(want, sizeof(want), "id=%llu payload", (unsigned long long)e[i].id);
        assert_string_equal(e[i].message, want);
    }
    sel_close(s);
    return acked;
}

static void test_kill9_never_corrupts(void **state)
{
    struct fx *f = *state;
    uint64_t acked[2] = {0, 0}, prev = 0;
    for (int round = 0; round < 24; round++) {
        uint64_t last = crash_round(f->path, round % 2, 2000 + (useconds_t)round * 1500);
        acked[round % 2] += last > prev ? last - prev : 0;
        prev = last > prev ? last : prev;
    }
    print_message("kill -9 x24: %llu appends acknowledged in page-cache rounds, %llu in durable\n",
                  (unsigned long long)acked[0], (unsigned long long)acked[1]);
    assert_true(acked[0] > 64 && acked[1] > 0); /* the child really was appending, and wrapped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persist_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_keeps_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_record_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_records_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_lap_not_resurrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_opener_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_and_sanitising, setup, teardown),
        cmocka_unit_test(test_json_and_names),
        cmocka_unit_test_setup_teardown(test_concurrent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_and_eventfd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_never_corrupts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
