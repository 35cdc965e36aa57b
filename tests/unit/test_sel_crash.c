/* Unit tests for the SEL under load: concurrent appenders, waiters, and kill -9 mid-append. */
#include "fixture.h"

#include "bmc/sel.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
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
        cmocka_unit_test_setup_teardown(test_concurrent_appends, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wait_and_eventfd, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_kill9_never_corrupts, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
