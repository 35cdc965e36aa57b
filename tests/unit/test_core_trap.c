/* test_core_trap.c: scripted exits raise trap events that reach the policy's action. */
#include "core_fixture.h"

#include "base/log.h"
#include "supervisor/rearm.h"
#include "supervisor/snapshot.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>

#define RFLAGS_IF (1ull << 9)

static void apply_json(struct core *c, const char *text)
{
    char err[256];
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    if (policy_apply_json(&c->hv->policy, j, err, sizeof err) < 0)
        fail_msg("%s: %s", text, err);
    json_decref(j);
}

/* The service VM running, the guest booted by a switch and in the foreground.  `policy` (JSON,
 * or NULL) applies before the guest is created, as a --policy file would. */
static struct core_pair *boot(const char *policy)
{
    struct core *c = core_new(NULL);
    if (policy)
        apply_json(c, policy);
    return core_pair_new(c, 2, true);
}

static struct vcpu *vcpu(struct vm *vm, uint32_t i)
{
    return &vm->vcpus[i];
}

/* The guest still runs: no request is pending and every vCPU is back in `run`. */
static void assert_goes_on(struct core_pair *t)
{
    for (uint32_t i = 0; i < t->guest->nvcpus; i++)
        assert_true(fake_wait_idle(t->c->fake, vcpu(t->guest, i), CORE_TIMEOUT_MS));
    assert_false(core_request_pending(t->guest));
    assert_int_equal(core_state(t->guest), VM_RUNNING);
}

static void test_triple_fault_freezes_as_crashed_with_a_snapshot(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    struct core *c = t->c;
    struct kvm_regs r = fake_regs(c->fake, vcpu(t->guest, 1));
    r.rip = 0x1234560;
    fake_guest_regs(c->fake, vcpu(t->guest, 1), &r);
    fake_exit(c->fake, vcpu(t->guest, 1), KVM_EXIT_SHUTDOWN);

    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req, VMREQ_FREEZE);
    assert_int_equal(t->guest->req_event, POLICY_EV_TRIPLE_FAULT);
    core_settle(c);
    assert_int_equal(core_state(t->guest), VM_CRASHED);
    assert_non_null(strstr(t->guest->stop_reason, "triple fault on vCPU 1 at rip 0x1234560"));
    assert_int_equal(core_sel_count(c, SEL_T_TRAP, "trap triple_fault"), 1);
    assert_int_equal(core_sel_count(c, SEL_T_ACTION, "action freeze for triple_fault"), 1);
    assert_int_equal(core_sel_count(c, SEL_T_VM_CRASH, "crashed: triple_fault"), 1);
    assert_ptr_equal(atomic_load(&c->hv->foreground), t->svc); /* the service VM takes over */
    assert_true(t->guest->vcpus[1].state_valid);
    assert_int_equal(t->guest->vcpus[1].state.regs.rip, 0x1234560);
    assert_true(snapshot_wait(t->guest, CORE_TIMEOUT_MS));
    assert_int_equal(core_sel_count(c, SEL_T_SNAPSHOT, "written"), 1);
    assert_int_equal(stats_count(&c->hv->trap_freeze), 1);
    /* The metrics op's counters (ctl_ops_metrics.c) saw the trap and the snapshot. */
    assert_int_equal(atomic_load(&c->hv->traps_raised[POLICY_EV_TRIPLE_FAULT]), 1);
    assert_int_equal(atomic_load(&c->hv->traps_raised[POLICY_EV_PVPANIC]), 0);
    assert_int_equal(atomic_load(&c->hv->snapshots_written), 1);

    /* A crashed guest cannot be switched to. */
    char err[256];
    assert_int_equal(hv_switch_to(c->hv, t->guest, "test", now_ns(), err, sizeof err), -1);
    core_pair_free(t);
}

static void test_triple_fault_after_a_reset_says_registers_lost(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    fake_guest_reset(t->c->fake, vcpu(t->guest, 0)); /* what AMD's KVM leaves behind */
    fake_exit(t->c->fake, vcpu(t->guest, 0), KVM_EXIT_SHUTDOWN);
    assert_true(core_wait_request(t->guest));
    core_settle(t->c);
    assert_int_equal(core_state(t->guest), VM_CRASHED);
    assert_true(t->guest->vcpus[0].evidence.lost);
    assert_int_equal(core_sel_count(t->c, SEL_T_VM_CRASH, "registers lost"), 1);
    core_pair_free(t);
}

static void test_triple_fault_with_log_stops_without_a_snapshot(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"events\": {\"triple_fault\": \"log\"}}");
    fake_exit(t->c->fake, vcpu(t->guest, 0), KVM_EXIT_SHUTDOWN);
    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req, VMREQ_STOP);
    core_settle(t->c);
    assert_int_equal(core_state(t->guest), VM_CRASHED);
    assert_int_equal(core_sel_count(t->c, SEL_T_ACTION, "action log"), 1);
    assert_true(snapshot_wait(t->guest, CORE_TIMEOUT_MS));
    assert_int_equal(core_sel_count(t->c, SEL_T_SNAPSHOT, ""), 0);
    core_pair_free(t);
}

static void test_triple_fault_with_reset_boots_the_guest_afresh(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"events\": {\"triple_fault\": \"reset\"},"
                               " \"protected\": [{\"gpa\": \"0x200000\", \"len\": 4096}]}");
    struct core *c = t->c;
    uint64_t entry = t->guest->boot.entry;
    struct kvm_regs r = fake_regs(c->fake, vcpu(t->guest, 0));
    r.rip = 0x777000;
    fake_guest_regs(c->fake, vcpu(t->guest, 0), &r);
    fake_exit(c->fake, vcpu(t->guest, 0), KVM_EXIT_SHUTDOWN);
    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req, VMREQ_RESET);

    fake_forget(c->fake);
    core_settle(c);
    assert_int_equal(core_sel_count(c, SEL_T_VM_RESET, "reset by policy"), 1);
    /* Torn down (threads joined first: the fake would count a vCPU destroyed in run) and
     * built again, protected range included, then booted: it was in the foreground. */
    size_t gone = fake_find(c->fake, FAKE_DESTROY_VM, t->guest, -1, 0);
    size_t made = fake_find(c->fake, FAKE_CREATE_VM, t->guest, -1, 0);
    assert_true(gone < made && made != SIZE_MAX);
    struct kvm_userspace_memory_region slots[4];
    assert_int_equal(fake_slots(c->fake, t->guest, slots, 4), 3);
    assert_int_equal(slots[1].flags, KVM_MEM_READONLY);
    assert_ptr_equal(atomic_load(&c->hv->foreground), t->guest);
    assert_goes_on(t);
    assert_int_equal(fake_regs(c->fake, vcpu(t->guest, 0)).rip, entry);
    core_pair_free(t);
}

static void test_protected_ranges_become_read_only_slots(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"protected\": [{\"gpa\": \"0x200000\", \"len\": 8192},"
                               " {\"gpa\": \"0x380000\", \"len\": 4096}]}");
    struct core *c = t->c;
    struct kvm_userspace_memory_region s[8];
    assert_int_equal(fake_slots(c->fake, t->guest, s, 8), 5);
    const struct {
        uint64_t gpa, len;
        uint32_t flags, slot;
    } want[] = {{0, 0x200000, 0, 0},
                {0x200000, 0x2000, KVM_MEM_READONLY, 1},
                {0x202000, 0x17e000, 0, 2},
                {0x380000, 0x1000, KVM_MEM_READONLY, 3},
                {0x381000, CORE_VM_MEM - 0x381000, 0, 4}};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s[i].guest_phys_addr, want[i].gpa);
        assert_int_equal(s[i].memory_size, want[i].len);
        assert_int_equal(s[i].flags, want[i].flags);
        assert_int_equal(s[i].slot, want[i].slot);
    }

    /* A store to ordinary RAM goes through; one to a protected page exits and is dropped. */
    fake_guest_store(c->fake, vcpu(t->guest, 1), 0x100800, 0x5a5a, 2);
    assert_true(fake_wait_idle(c->fake, vcpu(t->guest, 1), CORE_TIMEOUT_MS));
    assert_int_equal(t->guest->mem[0x100800], 0x5a);
    assert_int_equal(atomic_load(&t->guest->vcpus[1].exits), 0);
    uint8_t before = t->guest->mem[0x201000];
    fake_guest_store(c->fake, vcpu(t->guest, 1), 0x201000, 0xa5, 1);
    assert_true(core_wait_request(t->guest));
    core_settle(c);
    assert_int_equal(core_state(t->guest), VM_FROZEN); /* freeze: not a crash */
    assert_int_equal(t->guest->mem[0x201000], before);
    assert_int_equal(
        core_sel_count(c, SEL_T_TRAP, "trap write_protected: 1-byte write to protected 0x201000"),
        1);
    assert_int_equal(core_sel_count(c, SEL_T_TRAP, "frozen: write_protected"), 1);
    core_pair_free(t);
}

/* What `hvctl policy set` does: the new traps reach every guest before the policy changes. */
static int rearm(struct core *c, const char *policy, char *err, size_t errlen)
{
    struct policy_params from, to;
    policy_get_params(&c->hv->policy, &from);
    struct policy draft;
    policy_init_defaults(&draft, NULL, 0);
    json_t *j = json_loads(policy, 0, NULL);
    assert_int_equal(policy_apply_json(&draft, j, err, errlen), 0);
    json_decref(j);
    policy_get_params(&draft, &to);
    policy_destroy(&draft);
    pthread_mutex_lock(&c->hv->switch_lock);
    int rc = traps_rearm_guests(c->hv, &from, &to, err, errlen);
    pthread_mutex_unlock(&c->hv->switch_lock);
    return rc;
}

static void test_policy_change_rearms_a_running_guest(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    struct core *c = t->c;
    struct kvm_userspace_memory_region s[4];
    assert_int_equal(fake_slots(c->fake, t->guest, s, 4), 1);
    fake_forget(c->fake);
    /* Parked around the new layout (the fake counts a slot changed under a running vCPU),
     * and let go from where it was: nothing of its state is written back. */
    char err[256];
    assert_int_equal(rearm(c,
                           "{\"protected\": [{\"gpa\": \"0x100000\", \"len\": 4096}],"
                           " \"forbidden_msrs\": [16]}",
                           err, sizeof err),
                     0);
    assert_int_equal(fake_slots(c->fake, t->guest, s, 4), 3);
    assert_int_equal(s[1].guest_phys_addr, 0x100000);
    assert_int_equal(s[1].memory_size, 0x1000);
    assert_int_equal(s[1].flags, KVM_MEM_READONLY);
    assert_int_equal(fake_count(c->fake, FAKE_SET_MSR_FILTER, t->guest, -1), 1);
    assert_int_equal(fake_count(c->fake, FAKE_SET_REGS, t->guest, -1), 0);
    assert_goes_on(t);
    fake_guest_store(c->fake, vcpu(t->guest, 0), 0x100008, 1, 8);
    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req_event, POLICY_EV_WRITE_PROTECTED);
    core_pair_free(t);
}

static void test_a_refused_rearm_puts_every_guest_back(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    struct core *c = t->c;
    struct vm *second = core_add_vm(c, VIGIL_ROLE_GUEST, "guest2", 1);
    char err[256];
    assert_int_equal(vm_start(second, err, sizeof err), 0);
    assert_true(fake_wait_idle(c->fake, vcpu(second, 0), CORE_TIMEOUT_MS));
    /* KVM refuses the second guest's first new slot (its first call deletes the old one). */
    fake_fail_at(c->fake, FAKE_SET_MEMSLOT, second, 2, ENOMEM);
    assert_int_equal(
        rearm(c, "{\"protected\": [{\"gpa\": \"0x200000\", \"len\": 4096}]}", err, sizeof err), -1);
    assert_non_null(strstr(err, "KVM_SET_USER_MEMORY_REGION"));
    struct kvm_userspace_memory_region s[4];
    struct vm *guests[] = {t->guest, second};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fake_slots(c->fake, guests[i], s, 4), 1); /* as before: all of RAM */
        assert_int_equal(s[0].memory_size, CORE_VM_MEM);
        assert_int_equal(s[0].flags, 0);
        assert_int_equal(core_state(guests[i]), VM_RUNNING);
        assert_true(fake_wait_idle(c->fake, vcpu(guests[i], 0), CORE_TIMEOUT_MS));
    }
    core_pair_free(t);
}

static void test_protected_write_with_resume_goes_on(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"events\": {\"write_protected\": \"resume\"},"
                               " \"protected\": [{\"gpa\": \"0x200000\", \"len\": 4096}]}");
    fake_guest_store(t->c->fake, vcpu(t->guest, 0), 0x200000, 1, 8);
    assert_goes_on(t);
    assert_int_equal(core_sel_count(t->c, SEL_T_ACTION, "action resume for write_protected"), 1);
    core_pair_free(t);
}

static void test_forbidden_port_reads_ones_and_is_logged(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"forbidden_ports\": [128]}");
    fake_exit_io(t->c->fake, vcpu(t->guest, 0), 0x80, KVM_EXIT_IO_IN, 1, 0);
    assert_goes_on(t);
    struct kvm_run *run = t->guest->vcpus[0].run;
    assert_int_equal(((uint8_t *)run)[run->io.data_offset], 0xff);
    assert_int_equal(core_sel_count(t->c, SEL_T_TRAP, "read of forbidden port 0x80 on vCPU 0"), 1);
    assert_int_equal(core_sel_count(t->c, SEL_T_ACTION, "action log"), 1);
    core_pair_free(t);
}

static void test_forbidden_msr_exits_through_the_filter(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"forbidden_msrs\": [\"0x3a\"]}");
    struct core *c = t->c;
    size_t cap = fake_find(c->fake, FAKE_ENABLE_CAP, t->guest, -1, 0);
    size_t flt = fake_find(c->fake, FAKE_SET_MSR_FILTER, t->guest, -1, 0);
    assert_true(cap < flt && flt != SIZE_MAX);
    struct fake_call f = fake_call_at(c->fake, flt);
    assert_int_equal(f.u.filter.nranges, 1);
    assert_int_equal(f.u.filter.base[0], 0x3a);
    assert_int_equal(f.u.filter.flags, KVM_MSR_FILTER_DEFAULT_ALLOW);

    fake_guest_msr(c->fake, vcpu(t->guest, 0), 0x10, false, 0); /* allowed: no exit */
    fake_guest_msr(c->fake, vcpu(t->guest, 0), 0x3a, true, 5);
    assert_goes_on(t);
    assert_int_equal(atomic_load(&t->guest->vcpus[0].exits), 1);
    assert_int_equal(t->guest->vcpus[0].run->exit_reason, KVM_EXIT_X86_WRMSR);
    assert_int_equal(t->guest->vcpus[0].run->msr.error, 1); /* log: the guest gets #GP */
    assert_int_equal(core_sel_count(c, SEL_T_TRAP, "WRMSR of forbidden MSR 0x3a"), 1);

    core_policy(c, "forbidden_msr", "resume");
    fake_guest_msr(c->fake, vcpu(t->guest, 0), 0x3a, false, 0);
    assert_goes_on(t);
    assert_int_equal(t->guest->vcpus[0].run->msr.error, 0); /* resume: reads as 0 */
    core_pair_free(t);
}

static void test_hlt_halts_or_traps_with_interrupts_off(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    struct core *c = t->c;
    struct kvm_regs r = fake_regs(c->fake, vcpu(t->guest, 0));
    r.rflags |= RFLAGS_IF;
    fake_guest_regs(c->fake, vcpu(t->guest, 0), &r);
    fake_exit(c->fake, vcpu(t->guest, 0), KVM_EXIT_HLT);
    assert_true(core_wait_request(t->guest));
    core_settle(c);
    assert_int_equal(core_state(t->guest), VM_HALTED);
    assert_non_null(strstr(t->guest->stop_reason, "executed HLT with nothing to wake it"));
    core_pair_free(t);

    t = boot(NULL);
    c = t->c;
    r = fake_regs(c->fake, vcpu(t->guest, 1));
    r.rflags &= ~RFLAGS_IF;
    fake_guest_regs(c->fake, vcpu(t->guest, 1), &r);
    fake_exit(c->fake, vcpu(t->guest, 1), KVM_EXIT_HLT);
    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req_event, POLICY_EV_HALTED_IRQS_OFF);
    core_settle(c);
    assert_int_equal(core_state(t->guest), VM_CRASHED);
    core_pair_free(t);
}

static void test_panic_hypercall_with_nmi_injects_one(void **state)
{
    (void)state;
    struct core_pair *t = boot("{\"events\": {\"guest_panic\": \"nmi\"}}");
    struct vigil_hc_panic a = {.code = 7};
    fake_hypercall(t->c->fake, vcpu(t->guest, 0), VIGIL_HC_PANIC, CORE_SCRATCH, &a, sizeof a);
    assert_goes_on(t);
    assert_int_equal(fake_count(t->c->fake, FAKE_NMI, t->guest, 0), 1);
    assert_false(atomic_load(&t->guest->nmi_pending));
    assert_int_equal(core_sel_count(t->c, SEL_T_TRAP, "panic hypercall, code 7"), 1);
    core_pair_free(t);
}

static void test_failing_run_is_an_internal_error(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    fake_run_error(t->c->fake, vcpu(t->guest, 0), EFAULT);
    assert_true(core_wait_request(t->guest));
    assert_int_equal(t->guest->req_event, POLICY_EV_INTERNAL_ERROR);
    core_settle(t->c);
    assert_int_equal(core_state(t->guest), VM_CRASHED);
    assert_non_null(strstr(t->guest->stop_reason, "KVM_RUN failed on vCPU 0: Bad address"));
    core_pair_free(t);
}

static void test_service_vm_crash_is_contained(void **state)
{
    (void)state;
    struct core_pair *t = boot(NULL);
    struct core *c = t->c;
    fake_exit(c->fake, vcpu(t->svc, 0), KVM_EXIT_SHUTDOWN);
    assert_true(core_wait_request(t->svc));
    core_settle(c);
    /* Its RAM is the evidence until the core is written: no restart while the writer reads it,
     * and no one waits for the writer either; its end wakes the main loop, which restarts it. */
    if (snapshot_busy(t->svc))
        assert_int_equal(atomic_load(&c->hv->service_restarts), 0);
    assert_true(snapshot_wait(t->svc, CORE_TIMEOUT_MS));
    core_settle(c);
    assert_int_equal(atomic_load(&c->hv->service_restarts), 1);
    assert_int_equal(core_state(t->svc), VM_RUNNING);
    assert_true(fake_wait_idle(c->fake, vcpu(t->svc, 0), CORE_TIMEOUT_MS));
    assert_int_equal(core_sel_count(c, SEL_T_VM_RESET, "service VM restarted"), 1);
    assert_ptr_equal(atomic_load(&c->hv->foreground), t->guest);
    assert_goes_on(t); /* the guest never noticed */
    core_pair_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_triple_fault_freezes_as_crashed_with_a_snapshot),
        cmocka_unit_test(test_triple_fault_after_a_reset_says_registers_lost),
        cmocka_unit_test(test_triple_fault_with_log_stops_without_a_snapshot),
        cmocka_unit_test(test_triple_fault_with_reset_boots_the_guest_afresh),
        cmocka_unit_test(test_protected_ranges_become_read_only_slots),
        cmocka_unit_test(test_policy_change_rearms_a_running_guest),
        cmocka_unit_test(test_a_refused_rearm_puts_every_guest_back),
        cmocka_unit_test(test_protected_write_with_resume_goes_on),
        cmocka_unit_test(test_forbidden_port_reads_ones_and_is_logged),
        cmocka_unit_test(test_forbidden_msr_exits_through_the_filter),
        cmocka_unit_test(test_hlt_halts_or_traps_with_interrupts_off),
        cmocka_unit_test(test_panic_hypercall_with_nmi_injects_one),
        cmocka_unit_test(test_failing_run_is_an_internal_error),
        cmocka_unit_test(test_service_vm_crash_is_contained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
