/* vcpu_state.h: the control structure holding a vCPU's complete state across a VM switch (seed
 * 002). */
#ifndef HV_VCPU_STATE_H
#define HV_VCPU_STATE_H

#include "vmm/kvm_host.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct vcpu;

struct vcpu_state {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[KVM_HOST_MAX_MSRS];
    } msrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp_state;
    struct kvm_debugregs debugregs;
    bool has_xsave, has_xcrs, has_lapic, has_events, has_debugregs;
    uint64_t captured_ns; /* CLOCK_MONOTONIC when captured */
};

/* Reads every piece of vCPU v's state into s; the vCPU must not be running.
 * `synced`, if not NULL, holds the registers, segment registers and events as the
 * last KVM_RUN copied them out (KVM_CAP_SYNC_REGS), which spares three calls.
 * Returns 0, or -1 with the failing ioctl named in err. */
int vcpu_state_capture(const struct kvm_host *k, struct vcpu *v, bool irqchip,
                       const struct kvm_sync_regs *synced, struct vcpu_state *s, char *err,
                       size_t errlen);

/* Writes s back into vCPU v, in the order KVM needs (regs, xsave, xcrs,
 * sregs, MSRs, MP state, LAPIC, events, debug registers).  The TSC MSR is
 * not written back: guest time keeps running while the guest is frozen, as
 * the wall clock does. */
int vcpu_state_restore(struct vcpu *v, const struct vcpu_state *s, char *err, size_t errlen);

/* Drops MSRs from k->msrs that vCPU v cannot read back. */
void vcpu_state_prune_msrs(struct kvm_host *k, struct vcpu *v);

#endif
