/* platform.h: the thin vCPU/VM interface hv reaches KVM through: /dev/kvm, or a test's fake. */
#ifndef HV_PLATFORM_H
#define HV_PLATFORM_H

#include "vmm/hv.h"

#include <linux/kvm.h>
#include <stddef.h>

/*
 * One entry per KVM operation hv uses, in KVM's own vocabulary (struct kvm_regs,
 * kvm_userspace_memory_region, kvm_run, ...), so that each call site reads as the ioctl it
 * replaced and a backend has nothing to translate.  Unless said otherwise an entry returns
 * what its ioctl returns: >= 0 on success, -1 with errno set.
 *
 * A backend keeps its handles in vm->fd and v->fd (>= 0 while they exist) and gives each vCPU
 * a struct kvm_run in v->run, which hv reads after `run` and writes before the next one, as
 * with KVM's shared page.  The choice is made once per struct hv (hv->platform); nothing else
 * in hv depends on which backend it is.
 */
struct platform_ops {
    const char *name;

    /* The host: fills hv->kvm (capabilities, CPUID, MSR list) or fails naming what is missing. */
    int (*open)(struct hv *hv, char *err, size_t errlen);
    void (*close)(struct hv *hv);

    /* A VM with its interrupt controller, if the host has one: sets vm->fd and vm->irqchip. */
    int (*create_vm)(struct vm *vm, char *err, size_t errlen);
    void (*destroy_vm)(struct vm *vm);
    int (*get_tsc_khz)(struct vm *vm); /* KVM_GET_TSC_KHZ: the guest's TSC rate, or -1 */
    int (*set_memslot)(struct vm *vm, const struct kvm_userspace_memory_region *r);
    int (*enable_cap)(struct vm *vm, const struct kvm_enable_cap *cap);
    int (*set_msr_filter)(struct vm *vm, const struct kvm_msr_filter *f);
    int (*irq_line)(struct vm *vm, const struct kvm_irq_level *irq);
    /* KVM_IOEVENTFD, KVM_IRQFD: a device's eventfds bound in the VM (optional: a backend
     * without them leaves them NULL, and devices fall back to exits and irq_line). */
    int (*ioeventfd)(struct vm *vm, const struct kvm_ioeventfd *e);
    int (*irqfd)(struct vm *vm, const struct kvm_irqfd *f);

    /* The VM-wide machine state a Linux guest needs across a switch (optional: NULL where a
     * backend has none, and hv then keeps none): KVM_GET/SET_IRQCHIP (one chip per call, by
     * chip_id: the two PICs and the I/O APIC), KVM_GET/SET_PIT2, KVM_GET/SET_CLOCK (kvm-clock's
     * base). */
    int (*get_irqchip)(struct vm *vm, struct kvm_irqchip *c);
    int (*set_irqchip)(struct vm *vm, const struct kvm_irqchip *c);
    int (*get_pit)(struct vm *vm, struct kvm_pit_state2 *p);
    int (*set_pit)(struct vm *vm, const struct kvm_pit_state2 *p);
    int (*get_clock)(struct vm *vm, struct kvm_clock_data *c);
    int (*set_clock)(struct vm *vm, const struct kvm_clock_data *c);

    /* vCPU v->index of v->vm: sets v->fd and v->run. */
    int (*create_vcpu)(struct vcpu *v, char *err, size_t errlen);
    void (*destroy_vcpu)(struct vcpu *v);
    int (*set_cpuid)(struct vcpu *v, const struct kvm_cpuid2 *cpuid);
    /* KVM_RUN on the vCPU's own thread: 0 with the exit in v->run, or -1 (EINTR once kicked
     * or when v->run->immediate_exit is set). */
    int (*run)(struct vcpu *v);
    /* From any thread: makes a `run` in progress, or the next one, return EINTR. */
    void (*kick)(struct vcpu *v);
    int (*nmi)(struct vcpu *v);
    /* KVM_KVMCLOCK_CTRL: tells the guest (through kvm-clock) that hv stopped it, so its
     * soft-lockup watchdog does not count the pause; fails (EINVAL) where the guest has no
     * kvm-clock.  Optional. */
    int (*kvmclock_ctrl)(struct vcpu *v);

    /* The architectural state, as KVM_GET_* and KVM_SET_* see it. get_msrs and set_msrs return
     * how many of m->nmsrs entries they handled. */
    int (*get_regs)(struct vcpu *v, struct kvm_regs *r);
    int (*set_regs)(struct vcpu *v, const struct kvm_regs *r);
    int (*get_sregs)(struct vcpu *v, struct kvm_sregs *s);
    int (*set_sregs)(struct vcpu *v, const struct kvm_sregs *s);
    int (*get_fpu)(struct vcpu *v, struct kvm_fpu *f);
    int (*set_fpu)(struct vcpu *v, const struct kvm_fpu *f);
    int (*get_xsave)(struct vcpu *v, struct kvm_xsave *x);
    int (*set_xsave)(struct vcpu *v, const struct kvm_xsave *x);
    int (*get_xcrs)(struct vcpu *v, struct kvm_xcrs *x);
    int (*set_xcrs)(struct vcpu *v, const struct kvm_xcrs *x);
    int (*get_msrs)(struct vcpu *v, struct kvm_msrs *m);
    int (*set_msrs)(struct vcpu *v, const struct kvm_msrs *m);
    int (*get_lapic)(struct vcpu *v, struct kvm_lapic_state *l);
    int (*set_lapic)(struct vcpu *v, const struct kvm_lapic_state *l);
    int (*get_events)(struct vcpu *v, struct kvm_vcpu_events *e);
    int (*set_events)(struct vcpu *v, const struct kvm_vcpu_events *e);
    int (*get_mp_state)(struct vcpu *v, struct kvm_mp_state *mp);
    int (*set_mp_state)(struct vcpu *v, const struct kvm_mp_state *mp);
    int (*get_debugregs)(struct vcpu *v, struct kvm_debugregs *d);
    int (*set_debugregs)(struct vcpu *v, const struct kvm_debugregs *d);
    /* KVM_SET_GUEST_DEBUG: single-step, int3 and debug-register exits for hv's GDB stub
     * (KVM_EXIT_DEBUG); optional, NULL where the backend has none. */
    int (*set_guest_debug)(struct vcpu *v, const struct kvm_guest_debug *d);
};

/* /dev/kvm (platform_kvm.c): what hv ships with. */
extern const struct platform_ops platform_kvm;

/* The backend of hv: its own if one was set, else KVM. */
static inline const struct platform_ops *hv_platform(const struct hv *hv)
{
    return hv->platform ? hv->platform : &platform_kvm;
}

#endif
