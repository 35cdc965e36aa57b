/* kvm_host.h: what this host's /dev/kvm offers, probed once: API version, capabilities, CPUID,
 * MSRs. */
#ifndef HV_KVM_HOST_H
#define HV_KVM_HOST_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVM_HOST_MAX_MSRS 32

struct kvm_host {
    int fd;
    int run_size;                     /* KVM_GET_VCPU_MMAP_SIZE */
    struct kvm_cpuid2 *cpuid;         /* KVM_GET_SUPPORTED_CPUID */
    uint32_t msrs[KVM_HOST_MAX_MSRS]; /* MSRs the control structure saves */
    uint32_t nmsrs;
    bool cap_xsave, cap_xcrs, cap_debugregs, cap_irqchip, cap_readonly_mem, cap_vcpu_events;
    bool cap_tsc_deadline; /* the in-kernel LAPIC emulates the TSC-deadline timer mode */
    uint32_t sync_regs;    /* KVM_CAP_SYNC_REGS: KVM_SYNC_X86_* fields KVM_RUN can copy out */
};

/* Opens /dev/kvm and checks what hv needs; returns -1 with a message naming
 * what is missing.  (The KVM backend's host probe, in platform_kvm.c.) */
int kvm_host_open(struct kvm_host *k, char *err, size_t errlen);
void kvm_host_close(struct kvm_host *k);

#endif
