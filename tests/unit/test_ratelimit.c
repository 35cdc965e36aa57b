/* test_ratelimit.c: the token bucket: burst, steady rate, refill cap, clock steps, suppressed
 * counts and the per-source table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/ratelimit.h"

#define S 1000000000ull

static const struct ratelimit_cfg cfg = {.burst = 3, .period_ns = 10 * S};

static void test_burst_then_refused(void **state)
{
    (void)state;
    struct ratelimit r = {0};
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(&r, &cfg, 100 * S));
    for (int i = 0; i < 50; i++)
        assert_false(ratelimit_take(&r, &cfg, 100 * S + (uint64_t)i));
    assert_int_equal(ratelimit_suppressed(&r), 50);
    assert_int_equal(ratelimit_suppressed(&r), 0);
}

static void test_steady_rate(void **state)
{
    (void)state;
    struct ratelimit r = {0};
    uint64_t t = 5 * S;
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(&r, &cfg, t));
    /* One per period afterwards, not earlier. */
    for (int k = 1; k <= 20; k++) {
        assert_false(ratelimit_take(&r, &cfg, t + (uint64_t)k * 10 * S - 1));
        assert_true(ratelimit_take(&r, &cfg, t + (uint64_t)k * 10 * S));
    }
    assert_int_equal(ratelimit_suppressed(&r), 20);
}

static void test_refill_is_capped_at_burst(void **state)
{
    (void)state;
    struct ratelimit r = {0};
    assert_true(ratelimit_take(&r, &cfg, 0));
    /* A long quiet time banks no more than the burst. */
    uint64_t t = 1000000 * S;
    int passed = 0;
    for (int i = 0; i < 10; i++)
        passed += ratelimit_take(&r, &cfg, t);
    assert_int_equal(passed, 3);
}

static void test_clock_going_back_gives_nothing(void **state)
{
    (void)state;
    struct ratelimit r = {0};
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(&r, &cfg, 50 * S));
    assert_false(ratelimit_take(&r, &cfg, 1 * S));
    assert_false(ratelimit_take(&r, &cfg, 59 * S)); /* measured from 50 s, not from 1 s */
    assert_true(ratelimit_take(&r, &cfg, 60 * S));
}

static void test_ready_takes_nothing(void **state)
{
    (void)state;
    struct ratelimit r = {0};
    for (int i = 0; i < 5; i++)
        assert_true(ratelimit_ready(&r, &cfg, 0));
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(&r, &cfg, 0));
    assert_false(ratelimit_ready(&r, &cfg, 0));
    assert_int_equal(ratelimit_suppressed(&r), 0);
}

static void test_announce_once_per_run(void **state)
{
    (void)state;
    struct ratelimit r = {0};
    assert_true(ratelimit_announce(&r));
    assert_false(ratelimit_announce(&r));
    ratelimit_suppressed(&r);
    assert_true(ratelimit_announce(&r));
}

static void test_zero_burst_refuses_all(void **state)
{
    (void)state;
    static const struct ratelimit_cfg none = {.burst = 0, .period_ns = S};
    struct ratelimit r = {0};
    for (int i = 0; i < 4; i++)
        assert_false(ratelimit_take(&r, &none, (uint64_t)i * 100 * S));
    assert_int_equal(ratelimit_suppressed(&r), 4);
}

static void test_table_per_source(void **state)
{
    (void)state;
    static struct ratelimit_table t;
    memset(&t, 0, sizeof t);
    struct ratelimit *a = ratelimit_find(&t, "virtio-net");
    struct ratelimit *b = ratelimit_find(&t, "uart");
    assert_ptr_not_equal(a, b);
    assert_ptr_equal(ratelimit_find(&t, "virtio-net"), a);
    for (int i = 0; i < 3; i++)
        assert_true(ratelimit_take(a, &cfg, 0));
    assert_false(ratelimit_take(a, &cfg, 0));
    assert_true(ratelimit_take(b, &cfg, 0)); /* one source's flood leaves another alone */
    /* Past the table's size, further names share one bucket. */
    char name[32];
    for (int i = 0; i < RATELIMIT_SOURCES; i++) {
        snprintf(name, sizeof name, "src%d", i);
        ratelimit_find(&t, name);
    }
    assert_int_equal(t.n, RATELIMIT_SOURCES);
    assert_ptr_equal(ratelimit_find(&t, "late1"), &t.other);
    assert_ptr_equal(ratelimit_find(&t, "late2"), &t.other);
    /* Long names are compared by their stored prefix. */
    static struct ratelimit_table u;
    memset(&u, 0, sizeof u);
    struct ratelimit *l = ratelimit_find(&u, "a-very-long-source-name-indeed-1");
    assert_ptr_equal(ratelimit_find(&u, "a-very-long-source-name-indeed-2"), l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_steady_rate),
        cmocka_unit_test(test_refill_is_capped_at_burst),
        cmocka_unit_test(test_clock_going_back_gives_nothing),
        cmocka_unit_test(test_ready_takes_nothing),
        cmocka_unit_test(test_announce_once_per_run),
        cmocka_unit_test(test_zero_burst_refuses_all),
        cmocka_unit_test(test_table_per_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
