/* test_core_switch.c: the VM switch, pause and resume over the fake platform, with real threads.
 */
#include "core_fixture.h"

#include "base/log.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>

/* hv as main() leaves it: the service VM running in the foreground, a guest not yet booted. */
static int setup(void **state)
{
    *state = core_pair_new(core_new(NULL), 2, false);
    return 0;
}

static int teardown(void **state)
{
    core_pair_free(*state);
    return 0;
}

static void assert_running(struct core *c, struct vm *vm)
{
    assert_int_equal(core_state(vm), VM_RUNNING);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        assert_true(fake_wait_idle(c->fake, &vm->vcpus[i], CORE_TIMEOUT_MS));
}

static void test_switch_boots_freezes_and_resumes_the_guest(void **state)
{
    struct core_pair *t = *state;
    struct core *c = t->c;
    struct hv *hv = c->hv;
    char err[256];

    /* The first switch to the guest boots it. */
    assert_int_equal(hv_switch_to(hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_ptr_equal(atomic_load(&hv->foreground), t->guest);
    assert_running(c, t->guest);
    assert_int_equal(core_sel_count(c, SEL_T_VM_BOOT, "booted by a switch"), 1);
    assert_true(atomic_load(&t->svc->events) & VIGIL_EV_FOREGROUND);
    atomic_store(&t->svc->events, 0);

    /* The guest runs on somewhere else before the switch back. */
    struct kvm_regs moved[2];
    for (uint32_t i = 0; i < 2; i++) {
        moved[i] = fake_regs(c->fake, &t->guest->vcpus[i]);
        moved[i].rip += 0x10 * (i + 1);
        fake_guest_regs(c->fake, &t->guest->vcpus[i], &moved[i]);
        assert_true(fake_wait_idle(c->fake, &t->guest->vcpus[i], CORE_TIMEOUT_MS));
    }

    /* To the service VM: the guest is frozen with its state in the control structure. */
    assert_int_equal(hv_switch_to(hv, t->svc, "test", now_ns(), err, sizeof err), 0);
    assert_ptr_equal(atomic_load(&hv->foreground), t->svc);
    assert_int_equal(core_state(t->guest), VM_FROZEN);
    assert_true(core_wait_parked(t->guest));
    for (uint32_t i = 0; i < 2; i++) {
        assert_true(t->guest->vcpus[i].state_valid);
        assert_memory_equal(&t->guest->vcpus[i].state.regs, &moved[i], sizeof moved[i]);
        assert_false(fake_in_run(c->fake, &t->guest->vcpus[i]));
    }
    assert_true(atomic_load(&t->svc->events) & VIGIL_EV_FOREGROUND);
    assert_int_equal(atomic_load(&t->guest->switches_out), 1);
    assert_int_equal(core_state(t->svc), VM_RUNNING); /* the service VM never stops */

    /* And back: the guest resumes exactly there; KVM still holds that state. */
    fake_forget(c->fake);
    assert_int_equal(hv_switch_to(hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_ptr_equal(atomic_load(&hv->foreground), t->guest);
    assert_running(c, t->guest);
    assert_int_equal(fake_count(c->fake, FAKE_SET_REGS, t->guest, -1), 0);
    for (uint32_t i = 0; i < 2; i++)
        assert_int_equal(fake_regs(c->fake, &t->guest->vcpus[i]).rip, moved[i].rip);
    assert_int_equal(atomic_load(&t->guest->switches_in), 2);
    assert_int_equal(core_sel_count(c, SEL_T_VM_SWITCH, "switched to the foreground"), 3);
}

static void test_switch_writes_back_only_a_changed_vcpu(void **state)
{
    struct core_pair *t = *state;
    struct core *c = t->c;
    char err[256];
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_running(c, t->guest);
    assert_int_equal(hv_switch_to(c->hv, t->svc, "test", now_ns(), err, sizeof err), 0);
    assert_true(core_wait_parked(t->guest));
    struct vcpu *v = &t->guest->vcpus[1];
    v->state.regs.rbx = 0xfeedface; /* what a debugger on the service side would do */
    v->state_dirty = true;

    fake_forget(c->fake);
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_running(c, t->guest);
    assert_int_equal(fake_count(c->fake, FAKE_SET_REGS, t->guest, 0), 0);
    assert_int_equal(fake_count(c->fake, FAKE_SET_REGS, t->guest, 1), 1);
    assert_int_equal(fake_regs(c->fake, v).rbx, 0xfeedface);
}

static void test_failed_switch_leaves_both_vms_as_they_were(void **state)
{
    struct core_pair *t = *state;
    struct core *c = t->c;
    char err[256];
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_running(c, t->guest);
    /* A second guest that cannot take the foreground: it has crashed. */
    struct vm *dead = core_add_vm(c, VIGIL_ROLE_GUEST, "dead", 1);
    pthread_mutex_lock(&dead->lock);
    dead->state = VM_CRASHED;
    snprintf(dead->stop_reason, sizeof dead->stop_reason, "it was like that");
    pthread_mutex_unlock(&dead->lock);

    assert_int_equal(hv_switch_to(c->hv, dead, "test", now_ns(), err, sizeof err), -1);
    assert_non_null(strstr(err, "has stopped (crashed)"));
    assert_ptr_equal(atomic_load(&c->hv->foreground), t->guest);
    assert_running(c, t->guest); /* frozen for the attempt, running again */
}

static void test_switch_needs_a_service_vm(void **state)
{
    struct core_pair *t = *state;
    struct hv *hv = t->c->hv;
    char err[256];
    hv->service = NULL;
    assert_int_equal(hv_switch_to(hv, t->guest, "test", now_ns(), err, sizeof err), -1);
    assert_non_null(strstr(err, "no service VM"));
    hv->service = t->svc;
    assert_int_equal(core_state(t->guest), VM_CREATED);
}

static void test_pause_and_resume(void **state)
{
    struct core_pair *t = *state;
    struct core *c = t->c;
    char err[256];
    assert_int_equal(hv_pause(c->hv, t->guest, err, sizeof err), -1); /* never booted */
    assert_non_null(strstr(err, "not running"));
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_running(c, t->guest);

    assert_int_equal(hv_pause(c->hv, t->guest, err, sizeof err), 0);
    assert_int_equal(core_state(t->guest), VM_PAUSED);
    assert_ptr_equal(atomic_load(&c->hv->foreground), t->guest); /* a pause is no switch */
    assert_true(core_wait_parked(t->guest));
    for (uint32_t i = 0; i < 2; i++)
        assert_false(fake_in_run(c->fake, &t->guest->vcpus[i]));
    assert_int_equal(hv_pause(c->hv, t->guest, err, sizeof err), -1);
    assert_int_equal(core_sel_count(c, SEL_T_VM_PAUSE, "paused by an operator"), 1);

    assert_int_equal(hv_resume(c->hv, t->guest, err, sizeof err), 0);
    assert_running(c, t->guest);
    assert_int_equal(hv_resume(c->hv, t->guest, err, sizeof err), -1);
    assert_non_null(strstr(err, "not paused"));
    assert_int_equal(core_sel_count(c, SEL_T_VM_RESUME, "resumed by an operator"), 1);
}

static void test_resume_in_the_background_is_refused(void **state)
{
    struct core_pair *t = *state;
    struct core *c = t->c;
    char err[256];
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_running(c, t->guest);
    assert_int_equal(hv_pause(c->hv, t->guest, err, sizeof err), 0);
    assert_int_equal(hv_switch_to(c->hv, t->svc, "test", now_ns(), err, sizeof err), 0);
    assert_int_equal(core_state(t->guest), VM_PAUSED); /* paused stays paused */
    assert_int_equal(hv_resume(c->hv, t->guest, err, sizeof err), -1);
    assert_non_null(strstr(err, "not in the foreground"));
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), 0);
    assert_int_equal(hv_resume(c->hv, t->guest, err, sizeof err), 0);
    assert_running(c, t->guest);
}

static void test_switch_hypercall_from_the_service_vm(void **state)
{
    struct core_pair *t = *state;
    struct core *c = t->c;
    struct vigil_hc_switch a = {.target = VIGIL_ROLE_GUEST};
    fake_hypercall(c->fake, &t->svc->vcpus[0], VIGIL_HC_SWITCH, CORE_SCRATCH, &a, sizeof a);
    assert_true(fake_wait_idle(c->fake, &t->svc->vcpus[0], CORE_TIMEOUT_MS));
    assert_ptr_equal(atomic_load(&c->hv->foreground), t->guest);
    assert_running(c, t->guest);
    struct vigil_hc_switch back;
    memcpy(&back, t->svc->mem + CORE_SCRATCH, sizeof back);
    assert_int_equal(back.ret, 0);

    /* A guest may not switch. */
    fake_hypercall(c->fake, &t->guest->vcpus[0], VIGIL_HC_SWITCH, CORE_SCRATCH, &a, sizeof a);
    assert_true(fake_wait_idle(c->fake, &t->guest->vcpus[0], CORE_TIMEOUT_MS));
    memcpy(&back, t->guest->mem + CORE_SCRATCH, sizeof back);
    assert_int_equal(back.ret, VIGIL_EPERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_switch_boots_freezes_and_resumes_the_guest, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_switch_writes_back_only_a_changed_vcpu, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_switch_leaves_both_vms_as_they_were, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_switch_needs_a_service_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_in_the_background_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch_hypercall_from_the_service_vm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
