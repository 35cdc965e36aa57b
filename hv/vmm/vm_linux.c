/* vm_linux.c: loads a bzImage, its initrd and an MP table into a VM and starts its vCPUs there. */
#include "vmm/vm_linux.h"

#include "vmm/platform.h"
#include "x86/bzimage.h"
#include "x86/elf_loader.h"
#include "x86/mptable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define APIC_LVT0          0x350
#define APIC_LVT1          0x360
#define APIC_MODE_NMI      0x4u
#define APIC_MODE_EXTINT   0x7u
#define CPUID_HYPERVISOR   (1u << 31)
#define CPUID_XSAVE        (1u << 26)
#define CPUID_TSC_DEADLINE (1u << 24)

int vm_linux_load(struct vm *vm, char *err, size_t errlen)
{
    const struct vm_config *c = &vm->cfg;
    uint8_t *kernel = NULL, *initrd = NULL;
    size_t klen = 0, ilen = 0;
    char why[200];
    int rc = -1;
    if (elf_read_file(c->kernel, HV_IMAGE_MAX, &kernel, &klen, why, sizeof why) < 0) {
        snprintf(err, errlen, "--kernel: %s", why);
        return -1;
    }
    if (c->initrd && elf_read_file(c->initrd, vm->mem_size, &initrd, &ilen, why, sizeof why) < 0) {
        snprintf(err, errlen, "--initrd: %s", why);
        goto out;
    }
    if (bz_load(kernel, klen, initrd, ilen, c->append, vm->mem, vm->mem_size, &vm->linux_img, why,
                sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", c->kernel, why);
        goto out;
    }
    if (mptable_write(vm->mem, vm->mem_size, BZ_EBDA_GPA, vm->nvcpus, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        goto out;
    }
    if (c->system_map) {
        uint8_t *map = NULL;
        size_t mlen = 0;
        int bad = elf_read_file(c->system_map, 64u << 20, &map, &mlen, why, sizeof why) < 0 ||
                  linux_syms_parse((const char *)map, mlen, &vm->syms, why, sizeof why) < 0;
        free(map);
        if (bad) {
            snprintf(err, errlen, "--system-map %s: %s", c->system_map, why);
            goto out;
        }
        vm->has_syms = true;
    }
    vm->boot.entry = vm->linux_img.entry;
    vm->boot.image_start = BZ_KERNEL_GPA;
    vm->boot.image_end = BZ_KERNEL_GPA + vm->linux_img.kernel_len;
    rc = 0;
out:
    free(kernel);
    free(initrd);
    return rc;
}

void vm_linux_cpuid(struct kvm_cpuid2 *cpuid, uint32_t index, bool tsc_deadline)
{
    struct kvm_cpuid_entry2 *leaf1 = cpuid_find(cpuid, 1, 0);
    if (leaf1)
        leaf1->ecx |= CPUID_HYPERVISOR;
    /* KVM_GET_SUPPORTED_CPUID leaves the TSC-deadline bit to user space, which sets it when the
     * in-kernel LAPIC emulates that mode (as QEMU does).  With it Linux programs the deadline
     * timer and skips calibrating the LAPIC timer against the PIT at boot. */
    if (leaf1 && tsc_deadline)
        leaf1->ecx |= CPUID_TSC_DEADLINE;
    /* No XSAVE: with it, Debian 6.1's user space dies at its first signal ("bad frame in
     * rt_sigreturn": XRSTOR of the signal frame faults) in the nested machine; with FXSAVE it
     * runs.  Why is not known yet (docs/linux-guest.md, "Not yet"); it costs the guest AVX. */
    if (leaf1)
        leaf1->ecx &= ~CPUID_XSAVE;
    /* Extended topology: every subleaf's edx is the x2APIC ID. */
    for (uint32_t i = 0; i < cpuid->nent; i++)
        if (cpuid->entries[i].function == 0xb || cpuid->entries[i].function == 0x1f)
            cpuid->entries[i].edx = index;
}

static void set_lvt(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
    uint32_t v;
    memcpy(&v, l->regs + reg, 4);
    v = (v & ~0x700u) | (mode << 8);
    memcpy(l->regs + reg, &v, 4);
}

int vm_linux_vcpu(struct vcpu *v, char *err, size_t errlen)
{
    const struct platform_ops *p = hv_platform(v->vm->hv);
    if (v->vm->irqchip) {
        struct kvm_lapic_state l;
        if (p->get_lapic(v, &l) < 0) {
            snprintf(err, errlen, "KVM_GET_LAPIC: %s", strerror(errno));
            return -1;
        }
        set_lvt(&l, APIC_LVT0, APIC_MODE_EXTINT);
        set_lvt(&l, APIC_LVT1, APIC_MODE_NMI);
        if (p->set_lapic(v, &l) < 0) {
            snprintf(err, errlen, "KVM_SET_LAPIC: %s", strerror(errno));
            return -1;
        }
    }
    if (v->index != 0)
        return 0; /* an application processor: Linux wakes it with INIT/SIPI */
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    if (p->get_sregs(v, &sregs) < 0) {
        snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
        return -1;
    }
    bz_vcpu_sregs(&sregs);
    bz_vcpu_regs(&v->vm->linux_img, &regs);
    if (p->set_sregs(v, &sregs) < 0 || p->set_regs(v, &regs) < 0) {
        snprintf(err, errlen, "setting the 64-bit Linux entry state: %s", strerror(errno));
        return -1;
    }
    return 0;
}
