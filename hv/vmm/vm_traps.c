/* vm_traps.c: arms a VM's traps in KVM: read-only memslots for protected ranges, the MSR filter. */
#include "vmm/vm.h"

#include "base/log.h"
#include "vmm/platform.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_SLOTS (2 * POLICY_MAX_PROTECTED + 1)

static int set_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t len, bool readonly)
{
    struct kvm_userspace_memory_region r = {.slot = slot,
                                            .flags = readonly ? KVM_MEM_READONLY : 0,
                                            .guest_phys_addr = gpa,
                                            .memory_size = len,
                                            .userspace_addr = (uintptr_t)(vm->mem + gpa)};
    return hv_platform(vm->hv)->set_memslot(vm, &r);
}

int vm_arm_protection_plain(struct vm *vm, char *err, size_t errlen)
{
    if (set_slot(vm, 0, 0, vm->mem_size, false) < 0) {
        snprintf(err, errlen, "%s: KVM_SET_USER_MEMORY_REGION: %s", vm->name, strerror(errno));
        return -1;
    }
    vm->nslots = 1;
    return 0;
}

int vm_arm_protection(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen)
{
    if (vm->role == VIGIL_ROLE_SERVICE)
        return 0; /* the policy guards guests */
    if (pp->nprotected && !vm->hv->kvm.cap_readonly_mem) {
        snprintf(err, errlen, "this KVM has no read-only memory slots: cannot protect ranges");
        return -1;
    }
    /* Slots cannot be resized: delete them all, then lay RAM out again. */
    for (uint32_t s = 0; s < vm->nslots; s++)
        set_slot(vm, s, 0, 0, false);
    vm->nslots = 0;
    uint64_t at = 0;
    for (uint32_t i = 0; i <= pp->nprotected; i++) {
        uint64_t start = i < pp->nprotected ? pp->protected_ranges[i].gpa : vm->mem_size;
        uint64_t end = i < pp->nprotected ? start + pp->protected_ranges[i].len : vm->mem_size;
        if (start > vm->mem_size)
            start = vm->mem_size;
        if (end > vm->mem_size)
            end = vm->mem_size;
        if (start > at && set_slot(vm, vm->nslots++, at, start - at, false) < 0)
            goto fail;
        if (end > start && set_slot(vm, vm->nslots++, start, end - start, true) < 0)
            goto fail;
        if (end > at)
            at = end;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: KVM_SET_USER_MEMORY_REGION: %s", vm->name, strerror(errno));
    return -1;
}

int vm_arm_msr_filter(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen)
{
    if (vm->role == VIGIL_ROLE_SERVICE || !pp->nmsrs)
        return 0;
    if (!vm->msr_exits) {
        struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
                                     .args[0] = KVM_MSR_EXIT_REASON_FILTER};
        if (hv_platform(vm->hv)->enable_cap(vm, &cap) < 0) {
            snprintf(err, errlen, "%s: cannot enable MSR exits: %s", vm->name, strerror(errno));
            return -1;
        }
        vm->msr_exits = true;
    }
    static uint8_t deny = 0; /* a one-MSR bitmap whose bit says "not allowed" */
    struct kvm_msr_filter f = {.flags = KVM_MSR_FILTER_DEFAULT_ALLOW};
    uint32_t n = pp->nmsrs < KVM_MSR_FILTER_MAX_RANGES ? pp->nmsrs : KVM_MSR_FILTER_MAX_RANGES;
    if (n < pp->nmsrs)
        log_warn("%s: only the first %u forbidden MSRs can be trapped", vm->name, n);
    for (uint32_t i = 0; i < n; i++)
        f.ranges[i] =
            (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
                                          .nmsrs = 1,
                                          .base = pp->msrs[i],
                                          .bitmap = &deny};
    if (hv_platform(vm->hv)->set_msr_filter(vm, &f) < 0) {
        snprintf(err, errlen, "%s: KVM_X86_SET_MSR_FILTER: %s", vm->name, strerror(errno));
        return -1;
    }
    return 0;
}
