/* vcpu_state.c: captures and restores a vCPU's complete architectural state through the KVM API. */
#include "vmm/vcpu_state.h"

#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC 0x10u

static int ioctl_ok(int fd, unsigned long req, void *arg, const char *name, char *err,
                    size_t errlen)
{
    if (ioctl(fd, req, arg) < 0) {
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

int vcpu_state_capture(const struct kvm_host *k, int fd, bool irqchip,
                       const struct kvm_sync_regs *synced, struct vcpu_state *s, char *err,
                       size_t errlen)
{
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
    if ((!synced && (ioctl_ok(fd, KVM_GET_REGS, &s->regs, "KVM_GET_REGS", err, errlen) < 0 ||
                     ioctl_ok(fd, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS", err, errlen) < 0 ||
                     (s->has_events && ioctl_ok(fd, KVM_GET_VCPU_EVENTS, &s->events,
                                                "KVM_GET_VCPU_EVENTS", err, errlen) < 0))) ||
        (!s->has_xsave && ioctl_ok(fd, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU", err, errlen) < 0) ||
        (s->has_xsave &&
         ioctl_ok(fd, KVM_GET_XSAVE, &s->xsave, "KVM_GET_XSAVE", err, errlen) < 0) ||
        (s->has_xcrs && ioctl_ok(fd, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS", err, errlen) < 0) ||
        ioctl_ok(fd, KVM_GET_MP_STATE, &s->mp_state, "KVM_GET_MP_STATE", err, errlen) < 0 ||
        (s->has_lapic &&
         ioctl_ok(fd, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC", err, errlen) < 0) ||
        (s->has_debugregs &&
         ioctl_ok(fd, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS", err, errlen) < 0))
        return -1;
    s->msrs.hdr.nmsrs = k->nmsrs;
    for (uint32_t i = 0; i < k->nmsrs; i++)
        s->msrs.e[i] = (struct kvm_msr_entry){.index = k->msrs[i]};
    int got = ioctl(fd, KVM_GET_MSRS, &s->msrs);
    if (got != (int)k->nmsrs) {
        snprintf(err, errlen, "KVM_GET_MSRS read %d of %u MSRs", got, k->nmsrs);
        return -1;
    }
    if (s->has_xsave)
        fpu_from_xsave(&s->xsave, &s->fpu);
    s->captured_ns = now_ns();
    return 0;
}

int vcpu_state_restore(int fd, const struct vcpu_state *s, char *err, size_t errlen)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[KVM_HOST_MAX_MSRS];
    } msrs = {.hdr.nmsrs = 0};
    for (uint32_t i = 0; i < s->msrs.hdr.nmsrs; i++)
        if (s->msrs.e[i].index != MSR_IA32_TSC)
            msrs.e[msrs.hdr.nmsrs++] = s->msrs.e[i];

    /* KVM's setters take non-const pointers but do not write through them. */
    struct vcpu_state *w = (struct vcpu_state *)(uintptr_t)s;
    if (ioctl_ok(fd, KVM_SET_REGS, &w->regs, "KVM_SET_REGS", err, errlen) < 0)
        return -1;
    if (s->has_xsave) {
        if (ioctl_ok(fd, KVM_SET_XSAVE, &w->xsave, "KVM_SET_XSAVE", err, errlen) < 0)
            return -1;
    } else if (ioctl_ok(fd, KVM_SET_FPU, &w->fpu, "KVM_SET_FPU", err, errlen) < 0) {
        return -1;
    }
    if (s->has_xcrs && ioctl_ok(fd, KVM_SET_XCRS, &w->xcrs, "KVM_SET_XCRS", err, errlen) < 0)
        return -1;
    if (ioctl_ok(fd, KVM_SET_SREGS, &w->sregs, "KVM_SET_SREGS", err, errlen) < 0)
        return -1;
    int set = ioctl(fd, KVM_SET_MSRS, &msrs);
    if (set != (int)msrs.hdr.nmsrs) {
        snprintf(err, errlen, "KVM_SET_MSRS wrote %d of %u MSRs", set, msrs.hdr.nmsrs);
        return -1;
    }
    if (ioctl_ok(fd, KVM_SET_MP_STATE, &w->mp_state, "KVM_SET_MP_STATE", err, errlen) < 0 ||
        (s->has_lapic &&
         ioctl_ok(fd, KVM_SET_LAPIC, &w->lapic, "KVM_SET_LAPIC", err, errlen) < 0) ||
        (s->has_events &&
         ioctl_ok(fd, KVM_SET_VCPU_EVENTS, &w->events, "KVM_SET_VCPU_EVENTS", err, errlen) < 0) ||
        (s->has_debugregs &&
         ioctl_ok(fd, KVM_SET_DEBUGREGS, &w->debugregs, "KVM_SET_DEBUGREGS", err, errlen) < 0))
        return -1;
    return 0;
}
