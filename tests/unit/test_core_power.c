/* test_core_power.c: an operator's reset, power-off, power-on and NMI over the fake platform. */
#include "core_fixture.h"

#include "base/log.h"
#include "supervisor/power.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <string.h>
#include <unistd.h>

/* The service VM running, the guest booted by a switch and in the foreground. */
static int setup(void **state)
{
    *state = core_pair_new(core_new(NULL), 2, true);
    return 0;
}

static int teardown(void **state)
{
    core_pair_free(*state);
    return 0;
}

static struct vm *fg(struct core_pair *t)
{
    return atomic_load(&t->c->hv->foreground);
}

static void test_reset_reboots_the_foreground_guest(void **state)
{
    struct core_pair *t = *state;
    struct fake_platform *f = t->c->fake;
    char err[256];
    bool pending = true;
    uint64_t boot0 = t->guest->boot_ns;
    fake_forget(f);
    assert_int_equal(hv_vm_reset(t->c->hv, t->guest, &pending, err, sizeof err), 0);
    assert_false(pending);
    /* A new machine (vCPUs and KVM VM built again) that runs, still in the foreground. */
    assert_int_equal(fake_count(f, FAKE_DESTROY_VM, t->guest, -1), 1);
    assert_int_equal(fake_count(f, FAKE_CREATE_VCPU, t->guest, 1), 1);
    assert_int_equal(core_state(t->guest), VM_RUNNING);
    assert_true(t->guest->boot_ns > boot0);
    assert_ptr_equal(fg(t), t->guest);
    assert_int_equal(core_sel_count(t->c, SEL_T_VM_RESET, "reset by an operator"), 1);
    /* The service VM was not touched. */
    assert_int_equal(fake_count(f, FAKE_DESTROY_VM, t->svc, -1), 0);
}

static void test_reset_of_a_frozen_guest_waits_for_a_switch(void **state)
{
    struct core_pair *t = *state;
    char err[256];
    bool pending;
    assert_int_equal(hv_switch_to(t->c->hv, t->svc, "test", now_ns(), err, sizeof err), 0);
    assert_int_equal(core_state(t->guest), VM_FROZEN);
    assert_int_equal(hv_vm_reset(t->c->hv, t->guest, &pending, err, sizeof err), 0);
    assert_int_equal(core_state(t->guest), VM_CREATED); /* a guest runs only in the foreground */
    assert_ptr_equal(fg(t), t->svc);
    assert_int_equal(hv_switch_to(t->c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_int_equal(core_state(t->guest), VM_RUNNING);
}

static void test_poweroff_halts_and_hands_the_foreground_back(void **state)
{
    struct core_pair *t = *state;
    char err[256];
    assert_int_equal(hv_vm_poweroff(t->c->hv, t->guest, err, sizeof err), 0);
    assert_int_equal(core_state(t->guest), VM_HALTED);
    assert_string_equal(t->guest->stop_reason, "powered off by an operator");
    assert_ptr_equal(fg(t), t->svc);
    assert_true(core_wait_parked(t->guest)); /* parked, RAM kept: still evidence */
    assert_non_null(t->guest->mem);
    /* A halted guest cannot be switched to or resumed; power-on boots it afresh. */
    assert_int_equal(hv_switch_to(t->c->hv, t->guest, "test", now_ns(), err, sizeof err), -1);
    assert_int_equal(hv_resume(t->c->hv, t->guest, err, sizeof err), -1);
    struct fake_platform *f = t->c->fake;
    fake_forget(f);
    assert_int_equal(hv_vm_poweron(t->c->hv, t->guest, err, sizeof err), 0);
    assert_int_equal(fake_count(f, FAKE_DESTROY_VM, t->guest, -1), 1);
    assert_int_equal(core_state(t->guest), VM_RUNNING);
    assert_ptr_equal(fg(t), t->guest);
    /* On twice is refused: it is on. */
    assert_int_equal(hv_vm_poweron(t->c->hv, t->guest, err, sizeof err), -1);
    assert_non_null(strstr(err, "already on"));
}

static void test_the_service_vm_restarts_through_hvs_own_path(void **state)
{
    struct core_pair *t = *state;
    struct hv *hv = t->c->hv;
    char err[256];
    bool pending = false;
    assert_int_equal(hv_vm_poweroff(hv, t->svc, err, sizeof err), -1);
    assert_int_equal(hv_vm_poweron(hv, t->svc, err, sizeof err), -1);
    uint64_t restarts = atomic_load(&hv->service_restarts);
    assert_int_equal(hv_vm_reset(hv, t->svc, &pending, err, sizeof err), 0);
    assert_true(pending); /* asked for, done by the main loop's settle */
    assert_true(core_wait_request(t->svc));
    core_settle(t->c);
    assert_int_equal(atomic_load(&hv->service_restarts), restarts + 1);
    assert_int_equal(core_state(t->svc), VM_RUNNING);
    /* The guest kept running in the foreground. */
    assert_int_equal(core_state(t->guest), VM_RUNNING);
    assert_ptr_equal(fg(t), t->guest);
}

static void test_nmi_reaches_vcpu0_of_a_running_vm_only(void **state)
{
    struct core_pair *t = *state;
    struct fake_platform *f = t->c->fake;
    char err[256];
    fake_forget(f);
    assert_int_equal(hv_vm_nmi(t->c->hv, t->guest, err, sizeof err), 0);
    /* vCPU 0 injects it on its own thread once kicked out of run. */
    for (int i = 0; i < 1000 && fake_count(f, FAKE_NMI, t->guest, 0) == 0; i++)
        usleep(1000);
    assert_int_equal(fake_count(f, FAKE_NMI, t->guest, 0), 1);
    assert_int_equal(fake_count(f, FAKE_NMI, t->guest, 1), 0);
    assert_int_equal(hv_pause(t->c->hv, t->guest, err, sizeof err), 0);
    assert_int_equal(hv_vm_nmi(t->c->hv, t->guest, err, sizeof err), -1);
    assert_non_null(strstr(err, "paused"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_reboots_the_foreground_guest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_of_a_frozen_guest_waits_for_a_switch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_poweroff_halts_and_hands_the_foreground_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_the_service_vm_restarts_through_hvs_own_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nmi_reaches_vcpu0_of_a_running_vm_only, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
