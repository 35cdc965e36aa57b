/* test_policy_io.c: the trap policy from files and through the pre-boot prompt (pipes). */
#include "fixture.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "policy/policy.h"

static struct policy *fresh(void)
{
    struct policy *p = calloc(1, sizeof *p);
    assert_non_null(p);
    policy_init_defaults(p, NULL, 0); /* no device ports: the files here forbid none */
    return p;
}

static void drop(struct policy *p)
{
    policy_destroy(p);
    free(p);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_load_file(void **state)
{
    struct fx *f = *state;
    struct policy *p = fresh();
    struct policy_params pp;
    char path[128], err[512];

    snprintf(path, sizeof path, "%s/policy.json", f->dir);
    put_file(path, "{\"events\": {\"pvpanic\": \"log\"}, \"watchdog_ms\": 1000}\n");
    assert_int_equal(policy_load_file(p, path, err, sizeof err), 0);
    assert_int_equal(policy_action_for(p, POLICY_EV_PVPANIC), POLICY_ACT_LOG);
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 1000);

    put_file(path, "{\"watchdog_ms\": 5,\n \"events\": {\"pvpanic\": \"explode\"}}\n");
    assert_int_equal(policy_load_file(p, path, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, ": \"events.pvpanic\": unknown action \"explode\""));
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 1000);

    put_file(path, "{\"watchdog_ms\": 5,\n \"watchdog_ms\": 6}\n");
    assert_int_equal(policy_load_file(p, path, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "duplicate"));
    put_file(path, "{\"watchdog_ms\": 5,\n oops}\n");
    assert_int_equal(policy_load_file(p, path, err, sizeof err), -EINVAL);
    char where[160];
    snprintf(where, sizeof where, "%s:2:", path);
    assert_non_null(strstr(err, where));

    snprintf(path, sizeof path, "%s/missing.json", f->dir);
    assert_int_equal(policy_load_file(p, path, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "missing.json: No such file"));
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 1000);
    drop(p);
}

/* Runs the prompt with `input` already written (and the write end closed if `close_in`). */
static int run_prompt(struct policy *p, const char *input, bool close_in, int timeout, char *out,
                      size_t outlen)
{
    int in[2], o[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(o), 0);
    if (input[0])
        assert_int_equal(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
    if (close_in) {
        close(in[1]);
        in[1] = -1;
    }
    int rc = policy_preboot_prompt(p, in[0], o[1], timeout);
    close(o[1]);
    ssize_t n = read(o[0], out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
    close(o[0]);
    close(in[0]);
    if (in[1] >= 0)
        close(in[1]);
    return rc;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s++)
        n++;
    return n;
}

static void test_prompt_timeout(void **state)
{
    (void)state;
    struct policy *p = fresh();
    char out[8192];
    struct timespec t0, t1;

    assert_int_equal(run_prompt(p, "", false, 0, out, sizeof out), 0);
    assert_string_equal(out, ""); /* 0 s: no prompt at all */

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(run_prompt(p, "", false, 1, out, sizeof out), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s >= 0.95 && s < 5);
    assert_non_null(strstr(out, "triple_fault         freeze\n"));
    assert_non_null(strstr(out, "press e within 1 s to edit"));
    assert_non_null(strstr(out, "no edit: booting"));
    assert_null(strstr(out, "policy>"));

    /* Enter (any key but e) boots at once; so does end of input. */
    assert_int_equal(run_prompt(p, "\n", false, 30, out, sizeof out), 0);
    assert_non_null(strstr(out, "booting"));
    assert_int_equal(run_prompt(p, "", true, 30, out, sizeof out), 0);
    assert_int_equal(policy_generation(p), 0);
    drop(p);
}

static void test_prompt_edit(void **state)
{
    (void)state;
    struct policy *p = fresh();
    char out[16384];

    int rc = run_prompt(p, "e\nbogus=log\ntriple_fault=log\n\nwatchdog_ms=5\n", false, 30, out,
                        sizeof out);
    assert_int_equal(rc, 1);
    assert_int_equal(policy_action_for(p, POLICY_EV_TRIPLE_FAULT), POLICY_ACT_LOG);
    assert_non_null(strstr(out, "error: \"bogus\": unknown event (known: "));
    assert_non_null(strstr(out, "try again"));
    assert_non_null(strstr(out, "ok: triple_fault=log"));
    assert_int_equal(count(out, "policy> "), 3); /* the bad line was prompted again */
    assert_non_null(strstr(out, "policy edit done: 1 change\n"));
    struct policy_params pp;
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 0); /* after the empty line: not read */

    /* CR LF lines, a refused pair, a parameter, help/show, the last line ending at EOF. */
    rc = run_prompt(p,
                    "E\rtriple_fault=resume\r\nhelp\r\nwatchdog_ms = 0.5\r\n"
                    "  halted_irqs_off = nmi \r\nshow\rwatchdog_ms=20",
                    true, 30, out, sizeof out);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "error: \"triple_fault\": action \"resume\" refused"));
    assert_non_null(strstr(out, "error: \"watchdog_ms\": 0.5 ms is below the 1 ms minimum"));
    assert_non_null(strstr(out, "halted_irqs_off      nmi\n"));
    assert_non_null(strstr(out, "(no more input: edit ends)"));
    assert_int_equal(policy_action_for(p, POLICY_EV_HALTED_IRQS_OFF), POLICY_ACT_NMI);
    assert_int_equal(policy_action_for(p, POLICY_EV_TRIPLE_FAULT), POLICY_ACT_LOG);
    policy_get_params(p, &pp);
    assert_int_equal(pp.watchdog_ms, 20);

    /* An overlong line is refused as a whole, not cut into pieces. */
    char big[1200];
    memset(big, 'x', sizeof big);
    memcpy(big, "e\n", 2);
    memcpy(big + sizeof big - 20, "\noperator=reset\n\n", 18);
    big[sizeof big - 2] = 0;
    rc = run_prompt(p, big, true, 30, out, sizeof out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "error: line longer than"));
    assert_int_equal(count(out, "error:"), 1);
    assert_int_equal(policy_action_for(p, POLICY_EV_OPERATOR), POLICY_ACT_RESET);
    drop(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_file, fx_setup, fx_teardown),
        cmocka_unit_test(test_prompt_timeout),
        cmocka_unit_test(test_prompt_edit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
