/* test_policy.c: the trap policy table: defaults, names, refused pairs, set/get, threads. */
#include "policy_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static void test_defaults(void **state)
{
    (void)state;
    struct policy *p = fresh();
    struct policy_params pp;
    static const enum policy_event freeze[] = {
        POLICY_EV_WRITE_PROTECTED,    POLICY_EV_TRIPLE_FAULT,      POLICY_EV_PVPANIC,
        POLICY_EV_GUEST_PANIC,        POLICY_EV_INTERNAL_ERROR,    POLICY_EV_HALTED_IRQS_OFF,
        POLICY_EV_WATCHDOG_HEARTBEAT, POLICY_EV_WATCHDOG_PROGRESS, POLICY_EV_OPERATOR,
    };
    for (size_t i = 0; i < sizeof freeze / sizeof freeze[0]; i++)
        assert_int_equal(policy_action_for(p, freeze[i]), POLICY_ACT_FREEZE);
    assert_int_equal(policy_action_for(p, POLICY_EV_FORBIDDEN_PORT), POLICY_ACT_LOG);
    assert_int_equal(policy_action_for(p, POLICY_EV_FORBIDDEN_MSR), POLICY_ACT_LOG);
    assert_int_equal(policy_action_for(p, POLICY_EV_COUNT), POLICY_ACT_FREEZE);
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 0);
    assert_int_equal(pp.preboot_prompt_seconds, 0);
    assert_int_equal(pp.nprotected + pp.nports + pp.nmsrs, 0);
    assert_int_equal(policy_generation(p), 0);
    drop(p);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const ev[] = {
        "write_protected",   "triple_fault",    "pvpanic",       "guest_panic",
        "internal_error",    "forbidden_port",  "forbidden_msr", "watchdog_heartbeat",
        "watchdog_progress", "halted_irqs_off", "operator"};
    static const char *const act[] = {"log", "freeze", "notify", "reset", "nmi", "resume"};
    assert_int_equal(sizeof ev / sizeof ev[0], POLICY_EV_COUNT);
    assert_int_equal(sizeof act / sizeof act[0], POLICY_ACT_COUNT);
    for (int i = 0; i < POLICY_EV_COUNT; i++) {
        assert_string_equal(policy_event_name((enum policy_event)i), ev[i]);
        assert_int_equal(policy_event_from_name(ev[i]), i);
    }
    for (int i = 0; i < POLICY_ACT_COUNT; i++) {
        assert_string_equal(policy_action_name((enum policy_action)i), act[i]);
        assert_int_equal(policy_action_from_name(act[i]), i);
    }
    assert_int_equal(policy_event_from_name("Triple_Fault"), -1);
    assert_int_equal(policy_event_from_name(NULL), -1);
    assert_int_equal(policy_action_from_name("explode"), -1);
    assert_string_equal(policy_event_name(POLICY_EV_COUNT), "?");
    assert_string_equal(policy_action_name(POLICY_ACT_COUNT), "?");
}

static void test_refused_pairs(void **state)
{
    (void)state;
    int refused = 0;
    const char *why;
    for (int e = 0; e < POLICY_EV_COUNT; e++)
        for (int a = 0; a < POLICY_ACT_COUNT; a++)
            if (!policy_action_allowed((enum policy_event)e, (enum policy_action)a, &why)) {
                refused++;
                assert_non_null(why);
                assert_true(e == POLICY_EV_TRIPLE_FAULT || e == POLICY_EV_INTERNAL_ERROR);
                assert_true(a == POLICY_ACT_RESUME || a == POLICY_ACT_NMI);
            }
    assert_int_equal(refused, 4);
    assert_true(policy_action_allowed(POLICY_EV_TRIPLE_FAULT, POLICY_ACT_LOG, &why));
    assert_null(why);
    assert_true(policy_action_allowed(POLICY_EV_HALTED_IRQS_OFF, POLICY_ACT_NMI, NULL));
}

static void test_set_get(void **state)
{
    (void)state;
    struct policy *p = fresh();
    char err[512];

    assert_int_equal(policy_set(p, "triple_fault", "log", err, sizeof err), 0);
    assert_int_equal(policy_action_for(p, POLICY_EV_TRIPLE_FAULT), POLICY_ACT_LOG);
    assert_int_equal(policy_generation(p), 1);
    assert_int_equal(policy_set(p, "triple_fault", "log", err, sizeof err), 0);
    assert_int_equal(policy_generation(p), 1); /* no change, no new generation */
    assert_int_equal(policy_set(p, "halted_irqs_off", "nmi", err, sizeof err), 0);
    assert_int_equal(policy_action_for(p, POLICY_EV_HALTED_IRQS_OFF), POLICY_ACT_NMI);

    assert_int_equal(policy_set(p, "bogus", "log", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "\"bogus\": unknown event (known: write_protected,"));
    assert_int_equal(policy_set(p, "pvpanic", "explode", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "\"pvpanic\": unknown action \"explode\" (known: log, freeze"));
    assert_int_equal(policy_set(p, "triple_fault", "resume", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "\"triple_fault\": action \"resume\" refused: "));
    assert_int_equal(policy_set(p, "internal_error", "nmi", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "\"internal_error\": action \"nmi\" refused: "));
    assert_int_equal(policy_action_for(p, POLICY_EV_INTERNAL_ERROR), POLICY_ACT_FREEZE);
    assert_int_equal(policy_generation(p), 2);
    drop(p);
}

static void test_assignment(void **state)
{
    (void)state;
    struct policy *p = fresh();
    struct policy_params pp;
    enum policy_event ev;
    enum policy_action act;
    char err[512];

    assert_int_equal(
        policy_parse_assignment("  watchdog_progress = reset ", &ev, &act, err, sizeof err), 0);
    assert_int_equal(ev, POLICY_EV_WATCHDOG_PROGRESS);
    assert_int_equal(act, POLICY_ACT_RESET);
    assert_int_equal(policy_parse_assignment("triple_fault", &ev, &act, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "\"triple_fault\": expected name=value"));
    assert_int_equal(policy_parse_assignment("=log", &ev, &act, err, sizeof err), -EINVAL);
    assert_int_equal(policy_parse_assignment("pvpanic= ", &ev, &act, err, sizeof err), -EINVAL);
    assert_int_equal(policy_parse_assignment("triple_fault=nmi", &ev, &act, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "\"triple_fault\": action \"nmi\" refused"));

    assert_int_equal(policy_assign(p, "operator=notify", err, sizeof err), 0);
    assert_int_equal(policy_action_for(p, POLICY_EV_OPERATOR), POLICY_ACT_NOTIFY);
    assert_int_equal(policy_assign(p, "watchdog_ms=0x64", err, sizeof err), 0);
    assert_int_equal(policy_assign(p, "preboot_prompt_seconds = 5", err, sizeof err), 0);
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 100);
    assert_int_equal(pp.preboot_prompt_seconds, 5);
    assert_int_equal(policy_assign(p, "watchdog_ms=0.5", err, sizeof err), -EINVAL);
    assert_string_equal(err, "\"watchdog_ms\": 0.5 ms is below the 1 ms minimum");
    assert_int_equal(policy_assign(p, "watchdog_ms=soon", err, sizeof err), -EINVAL);
    assert_string_equal(err, "\"watchdog_ms\": expected a number");
    assert_int_equal(policy_assign(p, "protected=0x1000", err, sizeof err), -EINVAL);
    assert_string_equal(err, "\"protected\": a list; set it in the policy file");
    assert_int_equal(policy_assign(p, "bogus=1", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "\"bogus\": unknown event (known: write_protected, "));
    assert_non_null(strstr(err, "operator) or parameter (watchdog_ms, preboot_prompt_seconds)"));
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 100);
    drop(p);
}

static void *toggler(void *arg)
{
    struct policy *p = arg;
    char err[256];
    for (int i = 0; i < 20000; i++)
        policy_set(p, "pvpanic", i % 2 ? "freeze" : "resume", err, sizeof err);
    return NULL;
}

static void test_concurrent_reads(void **state)
{
    (void)state;
    struct policy *p = fresh();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, toggler, p), 0);
    for (int i = 0; i < 200000; i++) {
        enum policy_action a = policy_action_for(p, POLICY_EV_PVPANIC);
        assert_true(a == POLICY_ACT_FREEZE || a == POLICY_ACT_RESUME);
    }
    pthread_join(t, NULL);
    assert_int_equal(policy_action_for(p, POLICY_EV_PVPANIC), POLICY_ACT_FREEZE);
    drop(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_refused_pairs), cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_assignment),    cmocka_unit_test(test_concurrent_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
