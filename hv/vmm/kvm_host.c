/* kvm_host.c: probes /dev/kvm once so the rest of hv can rely on what it found. */
#include "vmm/kvm_host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* MSRs whose values are part of a vCPU's architectural state and are not in
 * kvm_sregs (EFER, APIC base and the FS/GS bases are). */
static const uint32_t wanted_msrs[] = {
    0x00000010, /* TSC */
    0x00000174, /* SYSENTER_CS */
    0x00000175, /* SYSENTER_ESP */
    0x00000176, /* SYSENTER_EIP */
    0x00000277, /* PAT */
    0x000006e0, /* TSC_DEADLINE */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */
    0xc0000103, /* TSC_AUX */
    0x000001a0, /* MISC_ENABLE */
};

static bool has_cap(int fd, long cap)
{
    return ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0;
}

static void pick_msrs(struct kvm_host *k)
{
    struct {
        struct kvm_msr_list hdr;
        uint32_t idx[1024];
    } list = {.hdr.nmsrs = 1024};
    k->nmsrs = 0;
    if (ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, &list) < 0)
        return;
    for (size_t w = 0; w < sizeof wanted_msrs / sizeof wanted_msrs[0]; w++)
        for (uint32_t i = 0; i < list.hdr.nmsrs && i < 1024; i++)
            if (list.hdr.indices[i] == wanted_msrs[w] && k->nmsrs < KVM_HOST_MAX_MSRS) {
                k->msrs[k->nmsrs++] = wanted_msrs[w];
                break;
            }
}

int kvm_host_open(struct kvm_host *k, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    k->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (k->fd < 0) {
        snprintf(err, errlen, "cannot open /dev/kvm: %s%s", strerror(errno),
                 errno == ENOENT ? " (KVM is not available on this machine)" : "");
        return -1;
    }
    int version = ioctl(k->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(err, errlen, "KVM API version %d, hv needs %d", version, KVM_API_VERSION);
        return -1;
    }
    static const struct {
        long cap;
        const char *name;
    } required[] = {
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!has_cap(k->fd, required[i].cap)) {
            snprintf(err, errlen, "this KVM lacks %s, which hv needs", required[i].name);
            return -1;
        }
    k->cap_xsave = has_cap(k->fd, KVM_CAP_XSAVE);
    k->cap_xcrs = has_cap(k->fd, KVM_CAP_XCRS);
    k->cap_debugregs = has_cap(k->fd, KVM_CAP_DEBUGREGS);
    k->cap_irqchip = has_cap(k->fd, KVM_CAP_IRQCHIP);
    k->cap_readonly_mem = has_cap(k->fd, KVM_CAP_READONLY_MEM);
    k->cap_vcpu_events = has_cap(k->fd, KVM_CAP_VCPU_EVENTS);
    int sync = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    k->sync_regs = sync > 0 ? (uint32_t)sync : 0;
    k->run_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (k->run_size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE returned %d", k->run_size);
        return -1;
    }
    for (int nent = 128; nent <= 4096; nent *= 2) {
        free(k->cpuid);
        k->cpuid = calloc(1, sizeof *k->cpuid + (size_t)nent * sizeof(struct kvm_cpuid_entry2));
        if (!k->cpuid) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        k->cpuid->nent = (uint32_t)nent;
        if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, k->cpuid) == 0)
            break;
        if (errno != E2BIG) {
            snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
            return -1;
        }
    }
    pick_msrs(k);
    return 0;
}

void kvm_host_prune_msrs(struct kvm_host *k, int vcpu_fd)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < k->nmsrs; i++) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } one = {.hdr.nmsrs = 1, .e.index = k->msrs[i]};
        if (ioctl(vcpu_fd, KVM_GET_MSRS, &one) == 1)
            k->msrs[kept++] = k->msrs[i];
    }
    k->nmsrs = kept;
}

void kvm_host_close(struct kvm_host *k)
{
    free(k->cpuid);
    k->cpuid = NULL;
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}
