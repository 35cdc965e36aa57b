/* vcpu_state.c: captures and restores a vCPU's complete architectural state through the KVM API. */
#include "vmm/vcpu_state.h"

#include "base/log.h"
#include "vmm/platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MSR_IA32_TSC 0x10u

static int call_ok(int rc, const char *name, char *err, size_t errlen)
{
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* KVM_GET_FPU's view, read from the legacy (FXSAVE-format) area that opens every XSAVE image,
 * so that a capture with XSAVE needs no KVM_GET_FPU (each ioctl is a vCPU load and put). */
static void fpu_from_xsave(const struct kvm_xsave *x, struct kvm_fpu *f)
{
    const uint8_t *b = (const uint8_t *)x->region;
    memset(f, 0, sizeof *f);
    memcpy(&f->fcw, b + 0, 2);
    memcpy(&f->fsw, b + 2, 2);
    f->ftwx = b[4];
    memcpy(&f->last_opcode, b + 6, 2);
    memcpy(&f->last_ip, b + 8, 8);
    memcpy(&f->last_dp, b + 16, 8);
    memcpy(&f->mxcsr, b + 24, 4);
    memcpy(f->fpr, b + 32, sizeof f->fpr);
    memcpy(f->xmm, b + 160, sizeof f->xmm);
}

int vcpu_state_capture(const struct kvm_host *k, struct vcpu *v, bool irqchip,
                       const struct kvm_sync_regs *synced, struct vcpu_state *s, char *err,
                       size_t errlen)
{
    const struct platform_ops *p = hv_platform(v->vm->hv);
    s->has_xsave = k->cap_xsave;
    s->has_xcrs = k->cap_xcrs;
    s->has_lapic = irqchip;
    s->has_events = k->cap_vcpu_events;
    s->has_debugregs = k->cap_debugregs;
    if (synced) {
        s->regs = synced->regs;
        s->sregs = synced->sregs;
        s->events = synced->events;
    }
    if ((!synced && (call_ok(p->get_regs(v, &s->regs), "KVM_GET_REGS", err, errlen) < 0 ||
                     call_ok(p->get_sregs(v, &s->sregs), "KVM_GET_SREGS", err, errlen) < 0 ||
                     (s->has_events && call_ok(p->get_events(v, &s->events), "KVM_GET_VCPU_EVENTS",
                                               err, errlen) < 0))) ||
        (!s->has_xsave && call_ok(p->get_fpu(v, &s->fpu), "KVM_GET_FPU", err, errlen) < 0) ||
        (s->has_xsave && call_ok(p->get_xsave(v, &s->xsave), "KVM_GET_XSAVE", err, errlen) < 0) ||
        (s->has_xcrs && call_ok(p->get_xcrs(v, &s->xcrs), "KVM_GET_XCRS", err, errlen) < 0) ||
        call_ok(p->get_mp_state(v, &s->mp_state), "KVM_GET_MP_STATE", err, errlen) < 0 ||
        (s->has_lapic && call_ok(p->get_lapic(v, &s->lapic), "KVM_GET_LAPIC", err, errlen) < 0) ||
        (s->has_debugregs &&
         call_ok(p->get_debugregs(v, &s->debugregs), "KVM_GET_DEBUGREGS", err, errlen) < 0))
        return -1;
    s->msrs.hdr.nmsrs = k->nmsrs;
    for (uint32_t i = 0; i < k->nmsrs; i++)
        s->msrs.e[i] = (struct kvm_msr_entry){.index = k->msrs[i]};
    int got = p->get_msrs(v, &s->msrs.hdr);
    if (got != (int)k->nmsrs) {
        snprintf(err, errlen, "KVM_GET_MSRS read %d of %u MSRs", got, k->nmsrs);
        return -1;
    }
    if (s->has_xsave)
        fpu_from_xsave(&s->xsave, &s->fpu);
    s->captured_ns = now_ns();
    return 0;
}

int vcpu_state_restore(struct vcpu *v, const struct vcpu_state *s, char *err, size_t errlen)
{
    const struct platform_ops *p = hv_platform(v->vm->hv);
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[KVM_HOST_MAX_MSRS];
    } msrs = {.hdr.nmsrs = 0};
    for (uint32_t i = 0; i < s->msrs.hdr.nmsrs; i++)
        if (s->msrs.e[i].index != MSR_IA32_TSC)
            msrs.e[msrs.hdr.nmsrs++] = s->msrs.e[i];

    if (call_ok(p->set_regs(v, &s->regs), "KVM_SET_REGS", err, errlen) < 0)
        return -1;
    if (s->has_xsave) {
        if (call_ok(p->set_xsave(v, &s->xsave), "KVM_SET_XSAVE", err, errlen) < 0)
            return -1;
    } else if (call_ok(p->set_fpu(v, &s->fpu), "KVM_SET_FPU", err, errlen) < 0) {
        return -1;
    }
    if (s->has_xcrs && call_ok(p->set_xcrs(v, &s->xcrs), "KVM_SET_XCRS", err, errlen) < 0)
        return -1;
    if (call_ok(p->set_sregs(v, &s->sregs), "KVM_SET_SREGS", err, errlen) < 0)
        return -1;
    int set = p->set_msrs(v, &msrs.hdr);
    if (set != (int)msrs.hdr.nmsrs) {
        snprintf(err, errlen, "KVM_SET_MSRS wrote %d of %u MSRs", set, msrs.hdr.nmsrs);
        return -1;
    }
    if (call_ok(p->set_mp_state(v, &s->mp_state), "KVM_SET_MP_STATE", err, errlen) < 0 ||
        (s->has_lapic && call_ok(p->set_lapic(v, &s->lapic), "KVM_SET_LAPIC", err, errlen) < 0) ||
        (s->has_events &&
         call_ok(p->set_events(v, &s->events), "KVM_SET_VCPU_EVENTS", err, errlen) < 0) ||
        (s->has_debugregs &&
         call_ok(p->set_debugregs(v, &s->debugregs), "KVM_SET_DEBUGREGS", err, errlen) < 0))
        return -1;
    return 0;
}

void vcpu_state_prune_msrs(struct kvm_host *k, struct vcpu *v)
{
    const struct platform_ops *p = hv_platform(v->vm->hv);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < k->nmsrs; i++) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } one = {.hdr.nmsrs = 1, .e.index = k->msrs[i]};
        if (p->get_msrs(v, &one.hdr) == 1)
            k->msrs[kept++] = k->msrs[i];
    }
    k->nmsrs = kept;
}
