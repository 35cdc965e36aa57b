/* test_core_machine.c: a Linux VM's irqchip, PIT and kvm-clock across a park, over the fake. */
#include "core_fixture.h"

#include "base/log.h"
#include "devices/uart.h"
#include "vmm/platform.h"
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* A guest that hv treats as Linux from its start on: vm_start would load the bzImage, so the
 * fixture's image boots and the kernel path is named after it (only park and resume read it). */
static struct vm *linux_vm(struct core *c, uint32_t vcpus)
{
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "linux", vcpus);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        assert_true(fake_wait_idle(c->fake, &vm->vcpus[i], CORE_TIMEOUT_MS));
    vm->cfg.kernel = "vmlinuz";
    vm->cfg.pit = true;
    return vm;
}

/* What "KVM" holds, set through the backend as a guest's activity would leave it. */
static void set_machine(struct vm *vm, uint8_t fill, uint64_t clock)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    for (uint32_t i = 0; i < 3; i++) {
        struct kvm_irqchip chip = {.chip_id = i};
        memset(&chip.chip, fill + (int)i, sizeof chip.chip);
        assert_int_equal(p->set_irqchip(vm, &chip), 0);
    }
    struct kvm_pit_state2 pit = {.flags = fill};
    pit.channels[0].count = fill;
    assert_int_equal(p->set_pit(vm, &pit), 0);
    struct kvm_clock_data cd = {.clock = clock};
    assert_int_equal(p->set_clock(vm, &cd), 0);
}

static void test_a_park_captures_the_machine_and_stops_kvm_clock(void **state)
{
    struct core *c = *state;
    struct vm *vm = linux_vm(c, 2);
    char err[256];
    /* The guest's machine before the stop: written while parked, as the fake demands. */
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    /* The capture (and its KVMCLOCK_CTRL) runs on the vCPU threads after the park: let it end
     * before counting calls or changing what it reads. */
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    set_machine(vm, 0x40, 5000000000ull);
    assert_int_equal(vm_unpark(vm, false, 0, err, sizeof err), 0);
    fake_forget(c->fake);

    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    assert_int_equal(fake_count(c->fake, FAKE_GET_IRQCHIP, vm, -1), 3);
    assert_int_equal(fake_count(c->fake, FAKE_GET_PIT, vm, -1), 1);
    assert_int_equal(fake_count(c->fake, FAKE_GET_CLOCK, vm, -1), 1);
    /* Each vCPU told its guest it was stopped, so Linux's soft-lockup watchdog skips the gap. */
    assert_int_equal(fake_count(c->fake, FAKE_KVMCLOCK_CTRL, vm, 0), 1);
    assert_int_equal(fake_count(c->fake, FAKE_KVMCLOCK_CTRL, vm, 1), 1);
    const struct vm_machine *m = &vm->machine;
    assert_true(m->has_irqchip && m->has_pit && m->has_clock);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(m->chips[i].chip_id, i);
        assert_int_equal(m->chips[i].chip.pic.irr, 0x40 + i);
    }
    assert_int_equal(m->pit.channels[0].count, 0x40);
    assert_int_equal(m->clock.clock, 5000000000ull);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    /* Without --restore-always KVM still holds it all: nothing is written back. */
    assert_int_equal(fake_count(c->fake, FAKE_SET_IRQCHIP, vm, -1), 0);
    assert_int_equal(fake_count(c->fake, FAKE_SET_CLOCK, vm, -1), 0);
}

static void test_restore_writes_the_machine_back_with_the_clock_moved_on(void **state)
{
    struct core *c = *state;
    c->hv->cfg.restore_always = true;
    struct vm *vm = linux_vm(c, 1);
    char err[256];
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    set_machine(vm, 0x20, 7000000000ull);
    assert_int_equal(vm_unpark(vm, false, 0, err, sizeof err), 0);
    assert_int_equal(vm_park(vm, err, sizeof err), 0); /* captures 0x20 and the clock */
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    /* Something else in KVM changed meanwhile; the restore must undo it. */
    set_machine(vm, 0x77, 1);
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    fake_forget(c->fake);
    uint64_t t0 = now_ns();
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    uint64_t t1 = now_ns();

    /* The machine before the LAPICs: the irqchip, then the vCPU state. */
    size_t chip = fake_find(c->fake, FAKE_SET_IRQCHIP, vm, -1, 0);
    size_t lapic = fake_find(c->fake, FAKE_SET_LAPIC, vm, 0, 0);
    assert_true(chip < lapic && lapic != SIZE_MAX);
    assert_int_equal(fake_count(c->fake, FAKE_SET_IRQCHIP, vm, -1), 3);
    assert_int_equal(fake_count(c->fake, FAKE_SET_PIT, vm, -1), 1);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    const struct vm_machine *m = &vm->machine;
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(m->chips[i].chip.pic.irr, 0x20 + i);
    assert_int_equal(m->pit.channels[0].count, 0x20);
    /* kvm-clock ran on through the stop (>= 20 ms), and no further than the time until the
     * restore's end. */
    uint64_t ran = m->clock.clock - 7000000000ull;
    assert_true(ran >= 20 * 1000000ull);
    assert_true(ran <= (t1 - t0) + 20 * 1000000ull + 1000000000ull);
    assert_int_equal(vm_unpark(vm, false, 0, err, sizeof err), 0);
}

/* The index of the first KVM_IRQ_LINE of irq at or after `from` (its level in *level), or
 * SIZE_MAX. */
static size_t find_irq(struct core *c, struct vm *vm, uint32_t irq, size_t from, bool *level)
{
    for (size_t i = from; (i = fake_find(c->fake, FAKE_IRQ_LINE, vm, -1, i)) != SIZE_MAX; i++) {
        struct fake_call call = fake_call_at(c->fake, i);
        if (call.u.irq.irq == irq) {
            *level = call.u.irq.level;
            return i;
        }
    }
    return SIZE_MAX;
}

/* Issue 12: text typed into a frozen Linux guest raised COM1's edge-triggered IRQ 4 in KVM, the
 * restoring resume wrote back the I/O APIC and LAPIC captured before it, and the interrupt was
 * gone while the UART, its line still high, raised no other: the 8250 driver waited forever. */
static void test_a_line_raised_while_parked_is_raised_again_after_a_restore(void **state)
{
    struct core *c = *state;
    c->hv->cfg.restore_always = true;
    struct vm *vm = linux_vm(c, 1);
    char err[256];
    /* The guest's 8250 driver asks for receive interrupts (IER bit 0). */
    fake_exit_io(c->fake, &vm->vcpus[0], UART_COM1_BASE + 1, KVM_EXIT_IO_OUT, 1, 0x01);
    assert_true(fake_wait_idle(c->fake, &vm->vcpus[0], CORE_TIMEOUT_MS));
    assert_false(fake_irq_level(c->fake, vm, UART_COM1_IRQ));

    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    assert_int_equal(vm_console_in(vm, "x", 1), 1); /* typed while frozen */
    assert_true(fake_irq_level(c->fake, vm, UART_COM1_IRQ));
    fake_forget(c->fake);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    /* After the chips and the LAPIC are written back, the line falls and rises: an edge the
     * restored I/O APIC latches. */
    size_t lapic = fake_find(c->fake, FAKE_SET_LAPIC, vm, 0, 0);
    assert_true(lapic != SIZE_MAX);
    bool level = true;
    size_t low = find_irq(c, vm, UART_COM1_IRQ, lapic, &level);
    assert_true(low != SIZE_MAX);
    assert_false(level);
    size_t high = find_irq(c, vm, UART_COM1_IRQ, low + 1, &level);
    assert_true(high != SIZE_MAX);
    assert_true(level);
    assert_true(fake_irq_level(c->fake, vm, UART_COM1_IRQ));
    assert_true(fake_find(c->fake, FAKE_SET_IRQCHIP, vm, -1, low) == SIZE_MAX);

    /* The input taken while frozen (hvctl's console read): the line fell; the restored chips
     * must not keep a request for it, and no edge is made. */
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    char byte;
    assert_int_equal(vm_console_take(vm, &byte, 1), 1);
    assert_false(fake_irq_level(c->fake, vm, UART_COM1_IRQ));
    fake_forget(c->fake);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    lapic = fake_find(c->fake, FAKE_SET_LAPIC, vm, 0, 0);
    low = find_irq(c, vm, UART_COM1_IRQ, lapic, &level);
    assert_true(low != SIZE_MAX && lapic != SIZE_MAX);
    assert_false(level);
    assert_true(find_irq(c, vm, UART_COM1_IRQ, low + 1, &level) == SIZE_MAX);

    /* A resume that writes nothing back leaves KVM's lines alone. */
    c->hv->cfg.restore_always = false;
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_console_in(vm, "y", 1), 1);
    fake_forget(c->fake);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
    assert_int_equal(fake_count(c->fake, FAKE_IRQ_LINE, vm, -1), 0);
    assert_true(fake_irq_level(c->fake, vm, UART_COM1_IRQ));
}

static void test_hvs_own_guests_skip_it(void **state)
{
    struct core *c = *state;
    struct vm *vm = core_add_vm(c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    assert_int_equal(vm_start(vm, err, sizeof err), 0);
    assert_true(fake_wait_idle(c->fake, &vm->vcpus[0], CORE_TIMEOUT_MS));
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_int_equal(vm_wait_captured(vm, err, sizeof err), 0);
    assert_int_equal(fake_count(c->fake, FAKE_GET_IRQCHIP, vm, -1), 0);
    assert_int_equal(fake_count(c->fake, FAKE_KVMCLOCK_CTRL, vm, 0), 0);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
}

static void test_a_failed_capture_does_not_stop_the_park(void **state)
{
    struct core *c = *state;
    struct vm *vm = linux_vm(c, 1);
    char err[256];
    fake_fail(c->fake, FAKE_GET_PIT, EIO);
    assert_int_equal(vm_park(vm, err, sizeof err), 0);
    assert_false(vm->machine.has_pit);
    assert_int_equal(vm_unpark(vm, true, 0, err, sizeof err), 0);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_park_captures_the_machine_and_stops_kvm_clock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_restore_writes_the_machine_back_with_the_clock_moved_on, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_line_raised_while_parked_is_raised_again_after_a_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hvs_own_guests_skip_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_capture_does_not_stop_the_park, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
