/* test_policy_json: the trap policy as JSON: refusals naming the field, apply and dump. */
#include "policy_fixture.h"

#include <errno.h>
#include <string.h>

struct refusal {
    const char *json, *message; /* message: the error must begin with this */
};

static const struct refusal refusals[] = {
    {"{\"events\": {\"triple_fault\": \"explode\"}}",
     "\"events.triple_fault\": unknown action \"explode\""},
    {"{\"events\": {\"bogus\": \"log\"}}", "\"events.bogus\": unknown event"},
    {"{\"events\": {\"bogus\": 1}}", "\"events.bogus\": unknown event"},
    {"{\"events\": {\"triple_fault\": \"resume\"}}",
     "\"events.triple_fault\": action \"resume\" refused"},
    {"{\"events\": {\"internal_error\": \"nmi\"}}",
     "\"events.internal_error\": action \"nmi\" refused"},
    {"{\"events\": {\"pvpanic\": 3}}", "\"events.pvpanic\": expected an action name"},
    {"{\"events\": [\"log\"]}", "\"events\": expected an object"},
    {"{\"watchdog_ms\": 0.5}", "\"watchdog_ms\": 0.5 ms is below the 1 ms minimum"},
    {"{\"watchdog_ms\": 60001}", "\"watchdog_ms\": 60001 ms is above the 60000 ms maximum"},
    {"{\"watchdog_ms\": -1}", "\"watchdog_ms\": -1 ms is negative"},
    {"{\"watchdog_ms\": 1.5}", "\"watchdog_ms\": 1.5 ms is not a whole number of ms"},
    {"{\"watchdog_ms\": true}", "\"watchdog_ms\": expected a number"},
    {"{\"preboot_prompt_seconds\": 301}",
     "\"preboot_prompt_seconds\": 301 s is above the 300 s maximum"},
    {"{\"protected\": [{\"gpa\": \"0x1000\", \"len\": 4096}, {\"gpa\": 12288, \"len\": 4096},"
     " {\"gpa\": \"0x100001\", \"len\": 4096}]}",
     "\"protected[2].gpa\": not page aligned"},
    {"{\"protected\": [{\"gpa\": 0, \"len\": 0}]}", "\"protected[0].len\": 0 is not a whole"},
    {"{\"protected\": [{\"gpa\": 0, \"len\": 100}]}", "\"protected[0].len\": 100 is not a whole"},
    {"{\"protected\": [{\"gpa\": 0}]}", "\"protected[0].len\": missing"},
    {"{\"protected\": [{\"gpa\": 0, \"len\": 4096, \"size\": 1}]}",
     "\"protected[0].size\": unknown field"},
    {"{\"protected\": [{\"gpa\": 0, \"len\": 8192}, {\"gpa\": 4096, \"len\": 4096}]}",
     "\"protected[1]\": 0x1000-0x1fff overlaps protected[0] 0x0-0x1fff"},
    {"{\"protected\": [{\"gpa\": \"0x10000000000000\", \"len\": 4096}]}",
     "\"protected[0].gpa\": 0x10000000000000 is above the maximum"},
    {"{\"protected\": [{\"gpa\": \"0xfffffffff000\", \"len\": \"0xfff000000000000\"}]}",
     "\"protected[0].len\": 0xfff000000000000 is above the maximum"},
    {"{\"protected\": [{\"gpa\": \"0xffffffffff000\", \"len\": 8192}]}",
     "\"protected[0]\": ends beyond the 52-bit"},
    {"{\"protected\": [{\"gpa\": \"0xzz\", \"len\": 4096}]}",
     "\"protected[0].gpa\": expected a number"},
    {"{\"protected\": [{\"gpa\": \"010\", \"len\": 4096}]}",
     "\"protected[0].gpa\": not page aligned"},
    {"{\"protected\": [{\"gpa\": -4096, \"len\": 4096}]}",
     "\"protected[0].gpa\": must not be negative"},
    {"{\"protected\": [{\"gpa\": 4096.0, \"len\": 4096}]}",
     "\"protected[0].gpa\": expected a whole number"},
    {"{\"protected\": [4096]}", "\"protected[0]\": expected {"},
    {"{\"protected\": {\"gpa\": 0}}", "\"protected\": expected a list"},
    {"{\"forbidden_ports\": [{\"first\": \"0x3f0\", \"last\": \"0x3f8\"}]}",
     "\"forbidden_ports[0]\": port 0x3f8 belongs to the uart device"},
    {"{\"forbidden_ports\": [96, \"0x505\"]}",
     "\"forbidden_ports[1]\": port 0x505 belongs to the pvpanic device"},
    {"{\"forbidden_ports\": [{\"first\": \"0x71f\"}]}",
     "\"forbidden_ports[0]\": port 0x71f belongs to the hypercall device"},
    {"{\"forbidden_ports\": [{\"first\": 100, \"last\": 96}]}",
     "\"forbidden_ports[0]\": first 0x64 is above last 0x60"},
    {"{\"forbidden_ports\": [70000]}", "\"forbidden_ports[0]\": 0x11170 is above the maximum"},
    {"{\"forbidden_ports\": [{\"first\": 1, \"last\": 65536}]}",
     "\"forbidden_ports[0].last\": 0x10000 is above the maximum 0xffff"},
    {"{\"forbidden_ports\": [{\"first\": 1, \"end\": 2}]}",
     "\"forbidden_ports[0].end\": unknown field"},
    {"{\"forbidden_ports\": [{\"last\": 2}]}", "\"forbidden_ports[0].first\": missing"},
    {"{\"forbidden_msrs\": [\"0x1b\", \"0x100000000\"]}",
     "\"forbidden_msrs[1]\": 0x100000000 is above the maximum 0xffffffff"},
    {"{\"forbidden_msrs\": [null]}", "\"forbidden_msrs[0]\": expected a number"},
    {"{\"forbidden_msrs\": \"0x1b\"}", "\"forbidden_msrs\": expected a list"},
    {"{\"bogus\": 1}", "\"bogus\": unknown field"},
    {"[1]", "policy: expected a JSON object"},
};

static void assert_refused(struct policy *p, const char *text, const char *message)
{
    char err[512];
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    json_t *before = policy_to_json(p);
    uint64_t gen = policy_generation(p);

    assert_non_null(j);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), -EINVAL);
    if (strncmp(err, message, strlen(message)))
        fail_msg("%s\n  gave: %s\n  want: %s...", text, err, message);
    json_t *after = policy_to_json(p);
    assert_true(json_equal(before, after));
    assert_int_equal(policy_generation(p), gen);
    json_decref(j);
    json_decref(before);
    json_decref(after);
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
    struct policy *p = fresh();
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        assert_refused(p, refusals[i].json, refusals[i].message);

    /* Limits on list lengths. */
    json_t *big = json_pack("{s:[], s:[], s:[]}", "protected", "forbidden_ports", "forbidden_msrs");
    for (int i = 0; i < 33; i++) {
        json_array_append_new(json_object_get(big, "protected"),
                              json_pack("{s:I, s:i}", "gpa", (json_int_t)i * 4096, "len", 4096));
        json_array_append_new(json_object_get(big, "forbidden_ports"), json_integer(i));
        json_array_append_new(json_object_get(big, "forbidden_msrs"), json_integer(i));
    }
    char *text = json_dumps(big, 0);
    assert_refused(p, text, "\"protected\": 33 entries, at most 16");
    free(text);
    json_object_del(big, "protected");
    text = json_dumps(big, JSON_SORT_KEYS);
    assert_refused(p, text, "\"forbidden_msrs\": 33 entries, at most 32");
    free(text);
    json_decref(big);
    drop(p);
}

/* Overlap is refused naming both entries as given (not as sorted) and both extents. */
static void test_protected_ranges_sorted_overlap_named(void **state)
{
    (void)state;
    struct policy *p = fresh();
    struct policy_params pp;
    char err[512];
    json_t *j = json_loads("{\"protected\": [{\"gpa\": \"0x300000\", \"len\": 4096},"
                           " {\"gpa\": \"0x100000\", \"len\": 4096},"
                           " {\"gpa\": \"0x200000\", \"len\": 4096}]}",
                           0, NULL);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), 0);
    policy_get_params(p, &pp);
    assert_int_equal(pp.nprotected, 3);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(pp.protected_ranges[i].gpa, (i + 1) * 0x100000ull);
    json_decref(j);
    assert_refused(p,
                   "{\"protected\": [{\"gpa\": \"0x300000\", \"len\": 8192},"
                   " {\"gpa\": \"0x100000\", \"len\": 4096},"
                   " {\"gpa\": \"0x301000\", \"len\": 4096}]}",
                   "\"protected[2]\": 0x301000-0x301fff overlaps protected[0] 0x300000-0x301fff");
    drop(p);
}

/* The fewest windows of POLICY_MSR_WINDOW_SPAN indices, in order, from any order of MSRs. */
static void test_msr_windows(void **state)
{
    (void)state;
    struct policy_msr_window w[POLICY_MAX_MSRS];
    const uint32_t msrs[] = {0xc0000080, 0x1b, 0x10, 0x1b, 0x300f, 0x3010, 0xffffffff};
    assert_int_equal(policy_msr_windows(msrs, 7, w, POLICY_MAX_MSRS), 4);
    const struct policy_msr_window want[] = {
        {0x10, 0x3000}, {0x3010, 1}, {0xc0000080, 1}, {0xffffffff, 1}};
    assert_memory_equal(w, want, sizeof want);
    assert_int_equal(policy_msr_windows(msrs, 7, w, 2), 4); /* counts past max */
    assert_int_equal(policy_msr_windows(msrs, 0, w, POLICY_MAX_MSRS), 0);
}

/* 32 MSRs in 16 windows are accepted; in 17 they are refused, naming the filter's limit. */
static void test_msr_list_limited_to_what_the_filter_holds(void **state)
{
    (void)state;
    struct policy *p = fresh();
    char err[512];
    json_t *list = json_array();
    for (uint32_t i = 0; i < 32; i++)
        json_array_append_new(list, json_integer((json_int_t)(i / 2) * 0x10000 + i % 2));
    json_t *j = json_pack("{s:O}", "forbidden_msrs", list);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), 0);
    json_decref(j);
    json_array_set_new(list, 31, json_integer(0x100000));
    j = json_pack("{s:o}", "forbidden_msrs", list);
    char *text = json_dumps(j, 0);
    json_decref(j);
    assert_refused(p, text,
                   "\"forbidden_msrs\": these 32 MSRs are spread over 17 runs of 0x3000 "
                   "indices; KVM's MSR filter traps at most 16 such runs");
    free(text);
    struct policy_params pp;
    policy_get_params(p, &pp);
    assert_int_equal(pp.nmsrs, 32);
    drop(p);
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    struct policy *p = fresh();
    struct policy_params pp;
    char err[512];

    assert_int_equal(policy_set(p, "pvpanic", "notify", err, sizeof err), 0);
    /* Good fields first, one bad one last: none of the good ones may land. */
    json_t *j = json_loads("{\"events\": {\"triple_fault\": \"log\", \"operator\": \"reset\"},"
                           " \"watchdog_ms\": 100, \"protected\": [{\"gpa\": 4096, \"len\": 4096}],"
                           " \"forbidden_ports\": [96], \"preboot_prompt_seconds\": 3,"
                           " \"forbidden_msrs\": [\"0x1b\", \"nope\"]}",
                           0, NULL);
    assert_non_null(j);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), -EINVAL);
    assert_string_equal(err, "\"forbidden_msrs[1]\": expected a number, decimal or \"0x\" hex");
    assert_int_equal(policy_action_for(p, POLICY_EV_TRIPLE_FAULT), POLICY_ACT_FREEZE);
    assert_int_equal(policy_action_for(p, POLICY_EV_OPERATOR), POLICY_ACT_FREEZE);
    assert_int_equal(policy_action_for(p, POLICY_EV_PVPANIC), POLICY_ACT_NOTIFY);
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms + pp.nprotected + pp.nports + pp.nmsrs, 0);
    assert_int_equal(pp.preboot_prompt_seconds, 0);

    /* Fixed, it all lands at once; keys left out keep their values. */
    json_array_remove(json_object_get(j, "forbidden_msrs"), 1);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), 0);
    assert_int_equal(policy_action_for(p, POLICY_EV_TRIPLE_FAULT), POLICY_ACT_LOG);
    assert_int_equal(policy_action_for(p, POLICY_EV_OPERATOR), POLICY_ACT_RESET);
    assert_int_equal(policy_action_for(p, POLICY_EV_PVPANIC), POLICY_ACT_NOTIFY);
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 100);
    assert_int_equal(pp.preboot_prompt_seconds, 3);
    assert_int_equal(pp.nprotected, 1);
    assert_int_equal(pp.nmsrs, 1);
    assert_int_equal(pp.msrs[0], 0x1b);
    /* A list present replaces the whole list; an empty one clears it. */
    json_decref(j);
    j = json_loads("{\"protected\": [], \"watchdog_ms\": 0}", 0, NULL);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), 0);
    policy_get_params(p, &pp);
    assert_int_equal(pp.nprotected + pp.watchdog_ms, 0);
    assert_int_equal(pp.nports, 1);
    json_decref(j);
    drop(p);
}

static void test_json_round_trip(void **state)
{
    (void)state;
    struct policy *p = fresh(), *q = fresh();
    struct policy_params a, b;
    char err[512];
    json_t *j =
        json_loads("{\"events\": {\"triple_fault\": \"reset\", \"write_protected\": \"resume\","
                   " \"forbidden_msr\": \"nmi\", \"watchdog_heartbeat\": \"notify\"},"
                   " \"watchdog_ms\": 250, \"preboot_prompt_seconds\": 7,"
                   " \"protected\": [{\"gpa\": \"0x100000\", \"len\": 8192}, {\"gpa\": 0, \"len\": "
                   "\"0x1000\"}],"
                   " \"forbidden_ports\": [{\"first\": \"0x60\", \"last\": \"0x64\"}, \"0x80\", "
                   "{\"first\": 0}],"
                   " \"forbidden_msrs\": [\"0x1b\", 3221225600]}",
                   0, NULL);
    assert_int_equal(policy_apply_json(p, j, err, sizeof err), 0);
    json_decref(j);

    json_t *out = policy_to_json(p);
    assert_non_null(out);
    assert_int_equal(json_object_size(json_object_get(out, "events")), POLICY_EV_COUNT);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "events"), "forbidden_port")),
        "log");
    /* Ranges are stored in address order, whatever the order given. */
    json_t *r0 = json_array_get(json_object_get(out, "protected"), 0);
    json_t *r1 = json_array_get(json_object_get(out, "protected"), 1);
    assert_string_equal(json_string_value(json_object_get(r0, "gpa")), "0x0");
    assert_int_equal(json_integer_value(json_object_get(r0, "len")), 4096);
    assert_string_equal(json_string_value(json_object_get(r1, "gpa")), "0x100000");
    assert_int_equal(json_integer_value(json_object_get(r1, "len")), 8192);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(out, "forbidden_msrs"), 1)), "0xc0000080");

    uint64_t gen = policy_generation(p);
    assert_int_equal(policy_apply_json(p, out, err, sizeof err), 0);
    assert_int_equal(policy_generation(p), gen); /* nothing changed: no new generation */
    assert_int_equal(policy_apply_json(q, out, err, sizeof err), 0);
    json_t *again = policy_to_json(q);
    assert_true(json_equal(out, again));
    for (int i = 0; i < POLICY_EV_COUNT; i++)
        assert_int_equal(policy_action_for(p, i), policy_action_for(q, i));
    policy_get_params(p, &a);
    policy_get_params(q, &b);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(b.nports, 3);
    assert_int_equal(b.ports[1].first, 0x80);
    assert_int_equal(b.ports[1].last, 0x80);

    assert_true(policy_port_forbidden(&b, 0x62));
    assert_true(policy_port_forbidden(&b, 0));
    assert_false(policy_port_forbidden(&b, 0x65));
    assert_true(policy_msr_forbidden(&b, 0xc0000080));
    assert_false(policy_msr_forbidden(&b, 0x1c));
    assert_true(policy_gpa_protected(&b, 0x101fff, 1));
    assert_true(policy_gpa_protected(&b, 0xff000, 0x1001));
    assert_false(policy_gpa_protected(&b, 0xff000, 0x1000));
    assert_false(policy_gpa_protected(&b, 0x102000, 8));
    assert_true(policy_gpa_protected(&b, 0x101000, UINT64_MAX)); /* wraps: runs to the end */
    assert_false(policy_gpa_protected(&b, UINT64_MAX - 4, 100));
    assert_false(policy_gpa_protected(&b, 0, 0));
    assert_string_equal(policy_port_reserved(p, 0x3f8), "uart");
    assert_string_equal(policy_port_reserved(p, 0x505), "pvpanic");
    assert_string_equal(policy_port_reserved(p, 0x700), "hypercall");
    assert_string_equal(policy_port_reserved(p, 0x71f), "hypercall");
    assert_null(policy_port_reserved(p, 0x3f7));
    assert_null(policy_port_reserved(p, 0x720));
    json_decref(out);
    json_decref(again);
    drop(p);
    drop(q);
}

/* The reserved ports are whatever the caller's devices own, nothing built in. */
static void test_reserved_ports_come_from_the_caller(void **state)
{
    (void)state;
    static const struct policy_port_owner other[] = {{0x60, 0x64, "keyboard"}};
    struct policy p;
    char err[512];
    policy_init_defaults(&p, other, 1);
    json_t *j = json_loads("{\"forbidden_ports\": [\"0x3f8\", 1280]}", 0, NULL);
    assert_int_equal(policy_apply_json(&p, j, err, sizeof err), 0);
    json_decref(j);
    j = json_loads("{\"forbidden_ports\": [{\"first\": 80, \"last\": 96}]}", 0, NULL);
    assert_int_equal(policy_apply_json(&p, j, err, sizeof err), -EINVAL);
    assert_string_equal(err, "\"forbidden_ports[0]\": port 0x60 belongs to the keyboard device and "
                             "cannot be forbidden");
    json_decref(j);
    policy_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_reserved_ports_come_from_the_caller),
        cmocka_unit_test(test_protected_ranges_sorted_overlap_named),
        cmocka_unit_test(test_msr_windows),
        cmocka_unit_test(test_msr_list_limited_to_what_the_filter_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
