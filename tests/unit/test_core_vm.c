/* test_core_vm.c: VMs and vCPUs over the fake platform: creation, park/capture/unpark, reset. */
#include "core_fixture.h"

#include "base/console.h"
#include "devices/uart.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>

static int setup(void **state)
{
    *state = core_new(NULL);
    return 0;
}

static int teardown(void **state)
{
    core_free(*state);
    return 0;
}

/* Every vCPU's thread is in `run` with nothing left to play. */
static void assert_running(struct core *c, struct vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        assert_true(fake_wait_idle(c->fake, &vm->vcpus[i], CORE_TIMEOUT_MS));
}

static void test_create_lays_out_a_vm(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 2);
    struct fake_platform *f = c->fake;

    /* The VM first, its RAM in one read-write slot, then its vCPUs; nothing runs yet. */
    size_t created = fake_find(f, FAKE_CREATE_VM, vm, -1, 0);
    size_t slot = fake_find(f, FAKE_SET_MEMSLOT, vm, -1, 0);
    size_t vcpu0 = fake_find(f, FAKE_CREATE_VCPU, vm, 0, 0);
    size_t vcpu1 = fake_find(f, FAKE_CREATE_VCPU, vm, 1, 0);
    assert_true(created < slot && slot < vcpu0 && vcpu0 < vcpu1 && vcpu1 != SIZE_MAX);
    struct kvm_userspace_memory_region slots[4];
    assert_int_equal(fake_slots(f, vm, slots, 4), 1);
    assert_int_equal(slots[0].guest_phys_addr, 0);
    assert_int_equal(slots[0].memory_size, CORE_VM_MEM);
    assert_int_equal(slots[0].flags, 0);
    assert_ptr_equal((void *)(uintptr_t)slots[0].userspace_addr, vm->mem);
    assert_int_equal(fake_count(f, FAKE_SET_MSR_FILTER, vm, -1), 0); /* nothing forbidden */
    assert_int_equal(fake_count(f, FAKE_RUN, vm, -1), 0);
    assert_int_equal(core_state(vm), VM_CREATED);
    assert_true(vm->irqchip);
    assert_int_equal(vm->boot.tsc_hz, 2500000ull * 1000);

    /* Each vCPU: its APIC ID in CPUID, the long-mode start state at the image's entry. */
    for (uint32_t i = 0; i < 2; i++) {
        struct vcpu *v = &vm->vcpus[i];
        assert_int_equal(fake_cpuid_ebx(f, v, 1) >> 24, i);
        struct kvm_regs r = fake_regs(f, v);
        struct kvm_sregs s = fake_sregs(f, v);
        assert_int_equal(r.rip, vm->boot.entry);
        assert_int_equal(s.efer & 0x500, 0x500); /* LME | LMA */
        assert_int_equal(s.cs.selector & 3, 3);  /* CPL 3 */
        assert_non_null(v->run);
    }
}

static void test_service_vm_gets_one_plain_slot(void **state)
{
    struct core *c = *state;
    policy_assign(&c->hv->policy, "watchdog_ms=0", NULL, 0);
    char err[256];
    json_t *j = json_loads("{\"protected\": [{\"gpa\": \"0x200000\", \"len\": 4096}],"
                           " \"forbidden_msrs\": [\"0x3a\"]}",
                           0, NULL);
    assert_int_equal(policy_apply_json(&c->hv->policy, j, err, sizeof err), 0);
    json_decref(j);
    struct vm *svc = core_add_vm(c, VIGIL_ROLE_SERVICE, "service", 1);
    struct kvm_userspace_memory_region slots[4];
    assert_int_equal(fake_slots(c->fake, svc, slots, 4), 1); /* the policy guards guests only */
    assert_int_equal(slots[0].flags, 0);
    assert_int_equal(fake_count(c->fake, FAKE_SET_MSR_FILTER, svc, -1), 0);
}

static void test_park_captures_and_unpark_resumes(void **state)
{
    struct core *c = *state;
    struct fake_platform *f = c->fake;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 2);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    struct kvm_regs moved = fake_regs(f, &vm->vcpus[1]);
    moved.rip += 0x40;
    moved.rax = 0xabcdef;
    fake_guest_regs(f, &vm->vcpus[1], &moved); /* the guest ran on */
    assert_true(fake_wait_idle(f, &vm->vcpus[1], CORE_TIMEOUT_MS));

    fake_forget(f);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    for (uint32_t i = 0; i < 2; i++) {
        struct vcpu *v = &vm->vcpus[i];
        assert_true(v->parked);
        assert_true(v->state_valid);
        assert_false(v->state_dirty);
        assert_false(fake_in_run(f, v));
        /* Kicked out of run, then a completion run with immediate_exit, then the capture. */
        size_t done = fake_find(f, FAKE_RUN, vm, (int)i, 0);
        assert_true(done != SIZE_MAX);
        while (done != SIZE_MAX && !fake_call_at(f, done).u.immediate_exit)
            done = fake_find(f, FAKE_RUN, vm, (int)i, done + 1);
        assert_true(done != SIZE_MAX);
        assert_true(fake_find(f, FAKE_GET_REGS, vm, (int)i, done) != SIZE_MAX);
        assert_int_equal(fake_count(f, FAKE_GET_LAPIC, vm, (int)i), 1); /* irqchip: LAPIC too */
        assert_int_equal(v->state.msrs.hdr.nmsrs, c->hv->kvm.nmsrs);
    }
    assert_memory_equal(&vm->vcpus[1].state.regs, &moved, sizeof moved);

    /* Unchanged control structure: KVM still holds it, nothing is written back. */
    fake_forget(f);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    assert_running(c, vm);
    for (int op = FAKE_SET_REGS; op < FAKE_OP_COUNT; op += 2)
        assert_int_equal(fake_count(f, (enum fake_op)op, vm, -1), 0);
}

static void test_dirty_state_is_written_back(void **state)
{
    struct core *c = *state;
    struct fake_platform *f = c->fake;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 2);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    struct vcpu *v = &vm->vcpus[1];
    v->state.regs.rip = 0x123456;
    v->state_dirty = true;

    fake_forget(f);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    assert_running(c, vm);
    assert_int_equal(fake_count(f, FAKE_SET_REGS, vm, 0), 0);
    assert_int_equal(fake_count(f, FAKE_SET_REGS, vm, 1), 1);
    assert_int_equal(fake_call_at(f, fake_find(f, FAKE_SET_REGS, vm, 1, 0)).u.regs.rip, 0x123456);
    assert_int_equal(fake_regs(f, v).rip, 0x123456);
    /* The whole control structure, in KVM's order: regs, xsave, xcrs, sregs, MSRs, ... */
    size_t regs = fake_find(f, FAKE_SET_REGS, vm, 1, 0);
    size_t xsave = fake_find(f, FAKE_SET_XSAVE, vm, 1, 0);
    size_t sregs = fake_find(f, FAKE_SET_SREGS, vm, 1, 0);
    size_t msrs = fake_find(f, FAKE_SET_MSRS, vm, 1, 0);
    size_t events = fake_find(f, FAKE_SET_EVENTS, vm, 1, 0);
    assert_true(regs < xsave && xsave < sregs && sregs < msrs && msrs < events &&
                events != SIZE_MAX);
    assert_int_equal(fake_count(f, FAKE_SET_FPU, vm, 1), 0); /* xsave covers it */
}

static void test_restore_always_writes_back(void **state)
{
    struct core *c = *state;
    c->hv->cfg.restore_always = true;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    fake_forget(c->fake);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    assert_int_equal(fake_count(c->fake, FAKE_SET_REGS, vm, 0), 1);
    assert_running(c, vm);
}

static void test_failed_restore_leaves_the_vm_parked(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    vm->vcpus[0].state_dirty = true;
    fake_fail(c->fake, FAKE_SET_SREGS, EIO);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "KVM_SET_SREGS"));
    assert_true(vm->vcpus[0].parked);
    assert_false(fake_in_run(c->fake, &vm->vcpus[0]));
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0); /* and it can go on */
    assert_running(c, vm);
}

static void test_failed_capture_is_reported(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    fake_fail(c->fake, FAKE_GET_MP_STATE, EFAULT);
    assert_int_equal(vm_park(vm, err, sizeof err), 0); /* stopped: the capture comes after */
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), -1);
    assert_non_null(strstr(err, "KVM_GET_MP_STATE"));
    assert_int_equal(vm_unpark(vm, false, 0, err, sizeof err), 0);
    assert_running(c, vm);
}

static void test_port_io_reaches_the_uart(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    for (const char *p = "hi\n"; *p; p++)
        fake_exit_io(c->fake, &vm->vcpus[0], UART_COM1_BASE, KVM_EXIT_IO_OUT, 1, (uint8_t)*p);
    fake_exit_io(c->fake, &vm->vcpus[0], UART_COM1_BASE + 5, KVM_EXIT_IO_IN, 1, 0); /* LSR */
    assert_running(c, vm);
    char out[16] = "";
    uint64_t from, next;
    assert_int_equal(console_read_output(&vm->console, 0, out, sizeof out - 1, &from, &next), 3);
    assert_string_equal(out, "hi\n");
    uint8_t lsr = ((uint8_t *)vm->vcpus[0].run)[vm->vcpus[0].run->io.data_offset];
    assert_true(lsr & 0x20); /* the transmitter is empty */
    assert_int_equal(atomic_load(&vm->vcpus[0].exits), 4);
}

static void test_reset_rebuilds_the_machine(void **state)
{
    struct core *c = *state;
    struct fake_platform *f = c->fake;
    char err[256];
    json_t *j = json_loads("{\"protected\": [{\"gpa\": \"0x200000\", \"len\": 8192}]}", 0, NULL);
    assert_int_equal(policy_apply_json(&c->hv->policy, j, err, sizeof err), 0);
    json_decref(j);
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 2);
    struct kvm_userspace_memory_region before[8], after[8];
    int nslots = fake_slots(f, vm, before, 8);
    assert_int_equal(nslots, 3);
    uint64_t entry = vm->boot.entry;
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    struct kvm_regs moved = fake_regs(f, &vm->vcpus[0]);
    moved.rip = 0x4242;
    fake_guest_regs(f, &vm->vcpus[0], &moved);
    assert_true(fake_wait_idle(f, &vm->vcpus[0], CORE_TIMEOUT_MS));
    atomic_store(&vm->events, VIGIL_EV_NOTIFY);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);

    fake_forget(f);
    assert_int_equal(vm_reset(vm, err, sizeof err), 0);
    /* The threads are joined (the fake counts a vCPU destroyed inside run as a violation),
     * then vCPUs and VM go, and everything is built again in the same order as at creation. */
    assert_int_equal(core_state(vm), VM_CREATED);
    for (uint32_t i = 0; i < 2; i++) {
        assert_false(vm->vcpus[i].thread_started);
        assert_int_equal(fake_count(f, FAKE_DESTROY_VCPU, vm, (int)i), 1);
        assert_int_equal(fake_count(f, FAKE_CREATE_VCPU, vm, (int)i), 1);
    }
    size_t gone = fake_find(f, FAKE_DESTROY_VM, vm, -1, 0);
    assert_true(fake_find(f, FAKE_DESTROY_VCPU, vm, 1, 0) < gone);
    assert_true(gone < fake_find(f, FAKE_CREATE_VM, vm, -1, 0));
    assert_int_equal(fake_count(f, FAKE_SET_MEMSLOT, vm, -1), 3);
    assert_int_equal(fake_slots(f, vm, after, 8), nslots);
    for (int i = 0; i < nslots; i++) {
        assert_int_equal(after[i].guest_phys_addr, before[i].guest_phys_addr);
        assert_int_equal(after[i].memory_size, before[i].memory_size);
        assert_int_equal(after[i].flags, before[i].flags);
        assert_int_equal(after[i].userspace_addr, (uintptr_t)vm->mem + after[i].guest_phys_addr);
    }
    assert_int_equal(fake_regs(f, &vm->vcpus[0]).rip, entry); /* a fresh start state */
    assert_int_equal(atomic_load(&vm->events), 0);
    assert_false(vm->stop_pending);

    assert_int_equal(vm_start(vm, err, sizeof err), 0); /* and it boots again */
    assert_running(c, vm);
}

static void test_vm_release_keeps_the_struct(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    vm_release(vm);
    assert_int_equal(core_state(vm), VM_CREATED);
    assert_null(vm->mem);
    assert_int_equal(vm->fd, -1);
    assert_int_equal(fake_count(c->fake, FAKE_DESTROY_VM, vm, -1), 1);
}

/* The fake's checks are live: what hv must not do, done on purpose, is caught. */
static void test_the_fake_catches_a_slot_changed_under_a_running_vcpu(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_running(c, vm);
    struct policy_params pp = {.nprotected = 1, .protected_ranges = {{0x200000, 0x1000}}};
    assert_int_equal(vm_arm_protection(vm, &pp, err, sizeof err), 0); /* "must not be running" */
    assert_true(fake_violations(c->fake) > 0);
    assert_non_null(strstr(fake_first_violation(c->fake), "changed while a vCPU was in KVM_RUN"));
    fake_clear_violations(c->fake);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_lays_out_a_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_vm_gets_one_plain_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_park_captures_and_unpark_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirty_state_is_written_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_always_writes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_restore_leaves_the_vm_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_capture_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_io_reaches_the_uart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_rebuilds_the_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vm_release_keeps_the_struct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_fake_catches_a_slot_changed_under_a_running_vcpu,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
