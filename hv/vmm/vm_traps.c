/* vm_traps.c: arms a VM's traps in KVM: read-only memslots for protected ranges, the MSR filter. */
#include "vmm/vm.h"

#include "base/log.h"
#include "vmm/platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(POLICY_MSR_WINDOWS == KVM_MSR_FILTER_MAX_RANGES,
               "the policy's MSR limit must be the filter's range count");
_Static_assert(POLICY_MSR_WINDOW_SPAN == KVM_MSR_FILTER_MAX_BITMAP_SIZE * 8,
               "the policy's MSR window must be what one filter bitmap covers");

static int cmp_range(const void *a, const void *b)
{
    uint64_t x = ((const struct policy_range *)a)->gpa, y = ((const struct policy_range *)b)->gpa;
    return x < y ? -1 : x > y;
}

int vm_slot_layout(uint64_t mem_size, const struct policy_range *ranges, uint32_t n,
                   struct vm_slot *out, uint32_t max)
{
    struct policy_range r[POLICY_MAX_PROTECTED];
    uint32_t m = 0, count = 0;
    if (n > POLICY_MAX_PROTECTED)
        return -1;
    /* Clipped to RAM: a range beyond it protects nothing that exists. */
    for (uint32_t i = 0; i < n; i++) {
        uint64_t start = ranges[i].gpa, len = ranges[i].len;
        if (start >= mem_size || !len)
            continue;
        r[m++] = (struct policy_range){start, len > mem_size - start ? mem_size - start : len};
    }
    /* KVM refuses overlapping slots, so the layout goes in address order whatever the order
     * given; overlapping or touching ranges make one read-only slot. */
    qsort(r, m, sizeof r[0], cmp_range);
    uint64_t at = 0;
    for (uint32_t i = 0; i < m; i++) {
        uint64_t start = r[i].gpa, end = r[i].gpa + r[i].len;
        if (count && out[count - 1].readonly && start <= at) {
            if (end > at)
                out[count - 1].len = end - out[count - 1].gpa, at = end;
            continue;
        }
        if (start > at) {
            if (count == max)
                return -1;
            out[count++] = (struct vm_slot){at, start - at, false};
        }
        if (count == max)
            return -1;
        out[count++] = (struct vm_slot){start, end - start, true};
        at = end;
    }
    if (at < mem_size) {
        if (count == max)
            return -1;
        out[count++] = (struct vm_slot){at, mem_size - at, false};
    }
    return (int)count;
}

static int set_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t len, bool readonly)
{
    struct kvm_userspace_memory_region r = {.slot = slot,
                                            .flags = readonly ? KVM_MEM_READONLY : 0,
                                            .guest_phys_addr = gpa,
                                            .memory_size = len,
                                            .userspace_addr = (uintptr_t)(vm->mem + gpa)};
    return hv_platform(vm->hv)->set_memslot(vm, &r);
}

static bool same_layout(const struct vm *vm, const struct vm_slot *s, uint32_t n)
{
    if (vm->nslots != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (vm->slots[i].gpa != s[i].gpa || vm->slots[i].len != s[i].len ||
            vm->slots[i].readonly != s[i].readonly)
            return false;
    return true;
}

/* Replaces the VM's memslots by s[0..n).  KVM cannot resize or move a slot, so the old ones
 * go first; on a failure the new ones made so far go too (the VM then has none) and errno
 * says why. */
static int apply_layout(struct vm *vm, const struct vm_slot *s, uint32_t n)
{
    for (uint32_t i = 0; i < vm->nslots; i++)
        set_slot(vm, i, 0, 0, false);
    vm->nslots = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (set_slot(vm, i, s[i].gpa, s[i].len, s[i].readonly) < 0) {
            int e = errno;
            while (i--)
                set_slot(vm, i, 0, 0, false);
            errno = e;
            return -1;
        }
    }
    memcpy(vm->slots, s, n * sizeof *s);
    vm->nslots = n;
    return 0;
}

/* Lays RAM out as `next`; if KVM refuses, puts back the layout before, or failing that one
 * read-write slot, so that the VM never runs on with its RAM unmapped. */
static int arm_layout(struct vm *vm, const struct vm_slot *next, uint32_t n, char *err,
                      size_t errlen)
{
    if (same_layout(vm, next, n))
        return 0;
    struct vm_slot prev[VM_MAX_SLOTS];
    uint32_t nprev = vm->nslots;
    memcpy(prev, vm->slots, nprev * sizeof *prev);
    if (apply_layout(vm, next, n) == 0)
        return 0;
    int e = errno;
    const struct vm_slot plain = {0, vm->mem_size, false};
    const char *after = "its memory layout is as it was";
    if (!nprev || apply_layout(vm, prev, nprev) < 0)
        after = apply_layout(vm, &plain, 1) == 0 ? "its RAM is mapped read-write, unprotected"
                                                 : "its RAM could not be mapped again";
    snprintf(err, errlen, "%s: KVM_SET_USER_MEMORY_REGION: %s; %s", vm->name, strerror(e), after);
    return -1;
}

int vm_arm_protection_plain(struct vm *vm, char *err, size_t errlen)
{
    const struct vm_slot plain = {0, vm->mem_size, false};
    return arm_layout(vm, &plain, 1, err, errlen);
}

int vm_arm_protection(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen)
{
    if (vm->role == VIGIL_ROLE_SERVICE)
        return 0; /* the policy guards guests */
    if (pp->nprotected && !vm->hv->kvm.cap_readonly_mem) {
        snprintf(err, errlen, "this KVM has no read-only memory slots: cannot protect ranges");
        return -1;
    }
    struct vm_slot next[VM_MAX_SLOTS];
    int n = vm_slot_layout(vm->mem_size, pp->protected_ranges, pp->nprotected, next, VM_MAX_SLOTS);
    if (n < 0) {
        snprintf(err, errlen, "%s: %u protected ranges need more than %u memslots", vm->name,
                 pp->nprotected, VM_MAX_SLOTS);
        return -1;
    }
    return arm_layout(vm, next, (uint32_t)n, err, errlen);
}

int vm_msr_filter_build(const struct policy_params *pp, struct kvm_msr_filter *f,
                        uint8_t (*bitmaps)[KVM_MSR_FILTER_MAX_BITMAP_SIZE])
{
    struct policy_msr_window w[KVM_MSR_FILTER_MAX_RANGES];
    uint32_t n = policy_msr_windows(pp->msrs, pp->nmsrs, w, KVM_MSR_FILTER_MAX_RANGES);
    if (n > KVM_MSR_FILTER_MAX_RANGES)
        return -1;
    memset(f, 0, sizeof *f);
    f->flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    for (uint32_t i = 0; i < n; i++) {
        /* A set bit allows the access: all of the window but the forbidden MSRs. */
        memset(bitmaps[i], 0xff, KVM_MSR_FILTER_MAX_BITMAP_SIZE);
        for (uint32_t k = 0; k < pp->nmsrs; k++) {
            uint32_t off = pp->msrs[k] - w[i].base;
            if (pp->msrs[k] >= w[i].base && off < w[i].nmsrs)
                bitmaps[i][off / 8] &= (uint8_t) ~(1u << (off % 8));
        }
        f->ranges[i] =
            (struct kvm_msr_filter_range){.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
                                          .nmsrs = w[i].nmsrs,
                                          .base = w[i].base,
                                          .bitmap = bitmaps[i]};
    }
    return (int)n;
}

int vm_arm_msr_filter(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen)
{
    if (vm->role == VIGIL_ROLE_SERVICE || (!pp->nmsrs && !vm->msr_exits))
        return 0; /* nothing is filtered, nothing is to be */
    if (!vm->msr_exits) {
        struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR,
                                     .args[0] = KVM_MSR_EXIT_REASON_FILTER};
        if (hv_platform(vm->hv)->enable_cap(vm, &cap) < 0) {
            snprintf(err, errlen, "%s: cannot enable MSR exits: %s", vm->name, strerror(errno));
            return -1;
        }
        vm->msr_exits = true;
    }
    /* An empty list still sets a filter: one without ranges lifts the previous one. */
    uint8_t bitmaps[KVM_MSR_FILTER_MAX_RANGES][KVM_MSR_FILTER_MAX_BITMAP_SIZE]; /* 24 KiB */
    struct kvm_msr_filter f;
    if (vm_msr_filter_build(pp, &f, bitmaps) < 0) {
        snprintf(err, errlen, "%s: %u forbidden MSRs need more than %u filter ranges", vm->name,
                 pp->nmsrs, KVM_MSR_FILTER_MAX_RANGES);
        return -1;
    }
    if (hv_platform(vm->hv)->set_msr_filter(vm, &f) < 0) {
        snprintf(err, errlen, "%s: KVM_X86_SET_MSR_FILTER: %s", vm->name, strerror(errno));
        return -1;
    }
    return 0;
}
