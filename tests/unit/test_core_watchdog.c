/* test_core_watchdog.c: the watchdog thread against a guest on the fake platform, on short
 * periods. */
#include "core_fixture.h"

#include "base/log.h"
#include "supervisor/switch.h"
#include "supervisor/watchdog.h"
#include "vmm/vm.h"

#include <string.h>
#include <time.h>

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The guest booted and in the foreground with the watchdog on, `period` ms, and the two
 * watchdog events set to the given actions. */
static struct core_pair *boot(unsigned period, const char *heartbeat, const char *progress)
{
    struct core *c = core_new(NULL);
    char err[256], line[64];
    snprintf(line, sizeof line, "watchdog_ms=%u", period);
    assert_int_equal(policy_assign(&c->hv->policy, line, err, sizeof err), 0);
    core_policy(c, "watchdog_heartbeat", heartbeat);
    core_policy(c, "watchdog_progress", progress);
    struct core_pair *t = core_pair_new(c, 1, true);
    assert_int_equal(watchdog_start(c->hv, err, sizeof err), 0);
    return t;
}

static void heartbeat(struct core_pair *t)
{
    struct vigil_hc_heartbeat a = {0};
    fake_hypercall(t->c->fake, &t->guest->vcpus[0], VIGIL_HC_HEARTBEAT, CORE_SCRATCH, &a, sizeof a);
}

static void test_missing_heartbeat_freezes_the_guest(void **state)
{
    (void)state;
    /* A 300 ms period leaves a loaded CI host 290 ms of slack per 10 ms sleep below. */
    struct core_pair *t = boot(300, "freeze", "log");
    /* Heartbeats every 10 ms for a period: nothing fires. */
    for (int i = 0; i < 30; i++) {
        heartbeat(t);
        sleep_ms(10);
        assert_false(core_request_pending(t->guest));
    }
    assert_true(atomic_load(&t->guest->heartbeats) >= 25);
    /* Then silence: caught within a period and a tick (plus this machine's slack). */
    uint64_t t0 = now_ns();
    assert_true(core_wait_request(t->guest));
    uint64_t waited_ms = (now_ns() - t0) / 1000000;
    assert_true(waited_ms >= 240);
    assert_true(waited_ms < 3000);
    assert_int_equal(t->guest->req_event, POLICY_EV_WATCHDOG_HEARTBEAT);
    core_settle(t->c);
    assert_int_equal(core_state(t->guest), VM_FROZEN);
    assert_int_equal(core_sel_count(t->c, SEL_T_WATCHDOG, "no heartbeat for"), 1);
    assert_int_equal(atomic_load(&t->c->hv->watchdog_firings), 1);
    assert_int_equal(atomic_load(&t->c->hv->traps_raised[POLICY_EV_WATCHDOG_HEARTBEAT]), 1);
    assert_ptr_equal(atomic_load(&t->c->hv->foreground), t->svc);
    core_pair_free(t);
}

static void test_no_progress_freezes_the_guest(void **state)
{
    (void)state;
    struct core_pair *t = boot(50, "log", "freeze");
    /* The vCPU sits in the guest without an exit: the watchdog kicks it for a sample of its
     * registers (taken on its own thread, outside `run`) until they stay the same a period. */
    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req_event, POLICY_EV_WATCHDOG_PROGRESS);
    assert_true(atomic_load(&t->guest->vcpus[0].sample_seq) >= 2);
    assert_true(fake_count(t->c->fake, FAKE_GET_MP_STATE, t->guest, 0) >= 2);
    assert_true(fake_count(t->c->fake, FAKE_KICK, t->guest, 0) >= 2);
    core_settle(t->c);
    assert_int_equal(core_state(t->guest), VM_FROZEN);
    assert_int_equal(core_sel_count(t->c, SEL_T_WATCHDOG, "vCPU 0 state unchanged for"), 1);
    core_pair_free(t);
}

static void test_a_paused_guest_is_not_watched(void **state)
{
    (void)state;
    struct core_pair *t = boot(20, "freeze", "freeze");
    char err[256];
    assert_int_equal(hv_pause(t->c->hv, t->guest, err, sizeof err), 0);
    sleep_ms(150); /* seven periods */
    assert_false(core_request_pending(t->guest));
    assert_int_equal(core_sel_count(t->c, SEL_T_WATCHDOG, ""), 0);
    /* Resumed, it gets a fresh period of grace, and then is caught. */
    uint64_t t0 = now_ns();
    assert_int_equal(hv_resume(t->c->hv, t->guest, err, sizeof err), 0);
    assert_true(core_wait_request(t->guest));
    assert_true(now_ns() - t0 >= 20ull * 1000000);
    core_pair_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_heartbeat_freezes_the_guest),
        cmocka_unit_test(test_no_progress_freezes_the_guest),
        cmocka_unit_test(test_a_paused_guest_is_not_watched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
