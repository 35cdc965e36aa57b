/* vm_machine.c: captures and restores a VM's irqchip, PIT and kvm-clock state across a switch. */
#include "vmm/vm_machine.h"

#include "base/log.h"
#include "vmm/hv.h"
#include "vmm/platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failed(char *err, size_t errlen, const char *call)
{
    snprintf(err, errlen, "%s: %s", call, strerror(errno));
    return -1;
}

int vm_machine_capture(struct vm *vm, char *err, size_t errlen)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    struct vm_machine *m = &vm->machine;
    m->has_irqchip = m->has_pit = m->has_clock = false;
    if (vm->irqchip && p->get_irqchip) {
        for (uint32_t i = 0; i < 3; i++) {
            memset(&m->chips[i], 0, sizeof m->chips[i]);
            m->chips[i].chip_id = i;
            if (p->get_irqchip(vm, &m->chips[i]) < 0)
                return failed(err, errlen, "KVM_GET_IRQCHIP");
        }
        m->has_irqchip = true;
    }
    /* Only a board with a PIT has one (cfg.pit): KVM refuses the call otherwise. */
    if (vm->irqchip && vm->cfg.pit && p->get_pit) {
        if (p->get_pit(vm, &m->pit) < 0)
            return failed(err, errlen, "KVM_GET_PIT2");
        m->has_pit = true;
    }
    if (p->get_clock) {
        memset(&m->clock, 0, sizeof m->clock);
        if (p->get_clock(vm, &m->clock) < 0)
            return failed(err, errlen, "KVM_GET_CLOCK");
        m->has_clock = true;
    }
    m->captured_ns = now_ns();
    return 0;
}

int vm_machine_restore(struct vm *vm, char *err, size_t errlen)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    const struct vm_machine *m = &vm->machine;
    /* The PICs before the I/O APIC, as KVM resets them: a pin's route is whole before its edge. */
    for (uint32_t i = 0; m->has_irqchip && i < 3; i++)
        if (p->set_irqchip(vm, &m->chips[i]) < 0)
            return failed(err, errlen, "KVM_SET_IRQCHIP");
    if (m->has_pit && p->set_pit(vm, &m->pit) < 0)
        return failed(err, errlen, "KVM_SET_PIT2");
    if (m->has_clock) {
        /* The clock as captured plus the time frozen: only the clock field is an input (flags 0:
         * no realtime or TSC pairing, which KVM would check against its own). */
        struct kvm_clock_data c = {.clock = m->clock.clock + (now_ns() - m->captured_ns)};
        if (p->set_clock(vm, &c) < 0)
            return failed(err, errlen, "KVM_SET_CLOCK");
    }
    return 0;
}

void vm_machine_note_stop(struct vcpu *v)
{
    const struct platform_ops *p = hv_platform(v->vm->hv);
    /* EINVAL: the guest has not turned kvm-clock on (hv's own guests, early Linux boot). */
    if (p->kvmclock_ctrl && p->kvmclock_ctrl(v) < 0 && errno != EINVAL)
        log_debug("%s/%u: KVM_KVMCLOCK_CTRL: %s", v->vm->name, v->index, strerror(errno));
}
