/* test_jobs.c: the job table: ids, outcomes, and which finished jobs are forgotten first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "base/jobs.h"

static int setup(void **state)
{
    struct job_table *t = malloc(sizeof *t);
    if (!t)
        return -1;
    jobs_init(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    jobs_destroy(*state);
    free(*state);
    return 0;
}

static void test_a_job_runs_then_is_done_or_failed(void **state)
{
    struct job_table *t = *state;
    struct hv_job j;
    uint64_t a = jobs_start(t, "snapshot", "guest", 100);
    uint64_t b = jobs_start(t, "snapshot", "service", 110);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    assert_true(jobs_get(t, a, &j));
    assert_int_equal(j.state, JOB_RUNNING);
    assert_string_equal(j.kind, "snapshot");
    assert_string_equal(j.subject, "guest");
    assert_int_equal(j.start_ns, 100);

    jobs_finish(t, a, "20240101-000000-000001", NULL, 150);
    jobs_finish(t, b, NULL, "disk full", 160);
    assert_true(jobs_get(t, a, &j));
    assert_int_equal(j.state, JOB_DONE);
    assert_string_equal(j.result, "20240101-000000-000001");
    assert_string_equal(j.error, "");
    assert_int_equal(j.end_ns, 150);
    assert_true(jobs_get(t, b, &j));
    assert_int_equal(j.state, JOB_FAILED);
    assert_string_equal(j.error, "disk full");
    assert_string_equal(j.result, "");
    assert_string_equal(job_state_name(j.state), "failed");

    jobs_finish(t, a, NULL, "late", 200); /* a finished job stays as it ended */
    assert_true(jobs_get(t, a, &j));
    assert_int_equal(j.state, JOB_DONE);
    assert_false(jobs_get(t, 0, &j));
    assert_false(jobs_get(t, 99, &j));
}

static void test_finished_jobs_are_forgotten_oldest_first_running_ones_never(void **state)
{
    struct job_table *t = *state;
    struct hv_job j;
    uint64_t first = jobs_start(t, "snapshot", "slow", 0); /* stays running throughout */
    uint64_t ids[3 * JOBS_KEPT];
    for (int i = 0; i < 3 * JOBS_KEPT; i++) {
        ids[i] = jobs_start(t, "snapshot", "quick", (uint64_t)i);
        assert_int_not_equal(ids[i], 0);
        jobs_finish(t, ids[i], "x", NULL, (uint64_t)i);
    }
    assert_true(jobs_get(t, first, &j));
    assert_int_equal(j.state, JOB_RUNNING);
    /* The newest JOBS_KEPT - 1 finished ones are kept; older ones are gone. */
    for (int i = 0; i < 3 * JOBS_KEPT; i++)
        assert_int_equal(jobs_get(t, ids[i], &j), i >= 3 * JOBS_KEPT - (JOBS_KEPT - 1));
}

static void test_a_full_table_of_running_jobs_refuses_another(void **state)
{
    struct job_table *t = *state;
    for (int i = 0; i < JOBS_KEPT; i++)
        assert_int_not_equal(jobs_start(t, "snapshot", "vm", 0), 0);
    assert_int_equal(jobs_start(t, "snapshot", "vm", 0), 0);
    jobs_finish(t, 5, "x", NULL, 1);
    assert_int_equal(jobs_start(t, "snapshot", "vm", 0), JOBS_KEPT + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_job_runs_then_is_done_or_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_finished_jobs_are_forgotten_oldest_first_running_ones_never, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_full_table_of_running_jobs_refuses_another, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
