/* test_stats.c: nearest-rank percentiles, the bounded sample ring and its summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/stats.h"

static int setup(void **state)
{
    struct latency_stats *s = malloc(sizeof *s);
    if (!s)
        return -1;
    stats_init(s);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static void test_percentile_known_data(void **state)
{
    (void)state;
    static const uint64_t v[] = {15, 20, 35, 40, 50};
    /* The nearest-rank method's textbook example: rank = ceil(p/100 * n). */
    assert_int_equal(stats_percentile(v, 5, 5), 15);
    assert_int_equal(stats_percentile(v, 5, 30), 20);
    assert_int_equal(stats_percentile(v, 5, 40), 20);
    assert_int_equal(stats_percentile(v, 5, 50), 35);
    assert_int_equal(stats_percentile(v, 5, 100), 50);
    assert_int_equal(stats_percentile(v, 5, 0), 15);
    assert_int_equal(stats_percentile(v, 0, 50), 0); /* no data */

    uint64_t w[10];
    for (size_t i = 0; i < 10; i++)
        w[i] = (i + 1) * 10; /* 10 .. 100 */
    assert_int_equal(stats_percentile(w, 10, 50), 50);
    assert_int_equal(stats_percentile(w, 10, 51), 60);
    assert_int_equal(stats_percentile(w, 10, 90), 90);
    assert_int_equal(stats_percentile(w, 10, 91), 100);
    assert_int_equal(stats_percentile(w, 10, 99), 100);
    assert_int_equal(stats_percentile(w, 1, 99), 10);
}

static void test_percentile_hundred(void **state)
{
    (void)state;
    uint64_t v[100];
    for (size_t i = 0; i < 100; i++)
        v[i] = i + 1;
    /* With 1..100, the p-th percentile is p, for every whole p (floating-point rounding once
     * pushed p = 7, 14, 28, 55 one rank too high). */
    for (int p = 1; p <= 100; p++)
        assert_int_equal(stats_percentile(v, 100, p), (uint64_t)p);
    assert_int_equal(stats_percentile(v, 100, 99.5), 100);
    assert_int_equal(stats_percentile(v, 100, 0.5), 1);
}

static void test_summary(void **state)
{
    struct latency_stats *s = *state;
    static const uint64_t v[] = {500, 100, 300, 200, 400, 900, 700, 600, 1000, 800};
    for (size_t i = 0; i < 10; i++)
        stats_add(s, v[i]);
    struct latency_summary r = stats_summary(s);
    assert_int_equal(r.count, 10);
    assert_int_equal(r.min, 100);
    assert_int_equal(r.max, 1000);
    assert_int_equal(r.p50, 500);
    assert_int_equal(r.p90, 900);
    assert_int_equal(r.p99, 1000);
    assert_float_equal(r.mean, 550.0, 1e-9);
    /* Summarizing does not disturb the stored (unsorted) ring. */
    assert_int_equal(s->samples[0], 500);
    assert_int_equal(s->samples[9], 800);
}

static void test_summary_empty(void **state)
{
    struct latency_stats *s = *state;
    struct latency_summary r = stats_summary(s);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.min, 0);
    assert_int_equal(r.max, 0);
    assert_int_equal(r.p50, 0);
    assert_float_equal(r.mean, 0.0, 0.0);
}

static void test_ring_keeps_last(void **state)
{
    struct latency_stats *s = *state;
    const uint64_t extra = 100, total = STATS_MAX_SAMPLES + extra;
    /* Values 1 .. total: the ring must drop 1 .. extra. */
    for (uint64_t i = 1; i <= total; i++)
        stats_add(s, i);
    assert_int_equal(s->count, total);
    struct latency_summary r = stats_summary(s);
    assert_int_equal(r.count, STATS_MAX_SAMPLES);
    assert_int_equal(r.min, extra + 1);
    assert_int_equal(r.max, total);
    /* Held: extra+1 .. total, i.e. extra + rank for nearest rank `rank`. */
    assert_int_equal(r.p50, extra + STATS_MAX_SAMPLES / 2);
    assert_int_equal(r.p90, extra + 7373); /* ceil(0.9 * 8192) */
    assert_int_equal(r.p99, extra + 8111); /* ceil(0.99 * 8192) */
    assert_float_equal(r.mean, (double)(extra + 1 + total) / 2.0, 1e-6);
}

static void test_reset(void **state)
{
    struct latency_stats *s = *state;
    for (uint64_t i = 0; i < 50; i++)
        stats_add(s, 1000 + i);
    stats_reset(s);
    assert_int_equal(s->count, 0);
    struct latency_summary r = stats_summary(s);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.max, 0);
    /* Only samples added after the reset count. */
    stats_add(s, 7);
    stats_add(s, 3);
    r = stats_summary(s);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.min, 3);
    assert_int_equal(r.max, 7);
    assert_int_equal(r.p50, 3);
    assert_float_equal(r.mean, 5.0, 1e-9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_known_data),
        cmocka_unit_test(test_percentile_hundred),
        cmocka_unit_test_setup_teardown(test_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_keeps_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
