/* test_thread.c: timed waits: monotonic condvars and their deadlines (hv/thread.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "base/thread.h"

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t ts_ns(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The deadline is on CLOCK_MONOTONIC, timeout from now, and a valid timespec. */
static void test_deadline_is_monotonic_now_plus_timeout(void **state)
{
    (void)state;
    static const uint64_t timeouts[] = {0, 1, 999999999, 1000000000, 2500000000ull, 60000000000ull};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        int64_t before = mono_ns();
        struct timespec d = hv_deadline_ns(timeouts[i]);
        int64_t after = mono_ns();
        assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000);
        assert_true(ts_ns(d) >= before + (int64_t)timeouts[i]);
        assert_true(ts_ns(d) <= after + (int64_t)timeouts[i]);
    }
}

/* A timed wait nobody signals ends with ETIMEDOUT once the timeout has passed, and soon after. */
static void test_timed_wait_times_out_in_bounded_time(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    assert_int_equal(hv_cond_init_monotonic(&c), 0);
    int64_t t0 = mono_ns();
    struct timespec d = hv_deadline_ns(50 * 1000000ull);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c, &mu, &d);
    pthread_mutex_unlock(&mu);
    int64_t waited = mono_ns() - t0;
    assert_true(waited >= 50 * 1000000ll);
    /* Were the condvar on CLOCK_REALTIME, a monotonic deadline (seconds since boot) would
     * lie decades in the past and the wait would return at once, or, the other way round,
     * never: either breaks one of these bounds. */
    assert_true(waited < 5 * 1000000000ll);
    pthread_cond_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_is_monotonic_now_plus_timeout),
        cmocka_unit_test(test_timed_wait_times_out_in_bounded_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
