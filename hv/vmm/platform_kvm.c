/* platform_kvm.c: the platform interface over /dev/kvm: hv's only ioctl calls, and the host probe.
 */
#include "vmm/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
    k->cap_tsc_deadline = has_cap(k->fd, KVM_CAP_TSC_DEADLINE_TIMER);
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

void kvm_host_close(struct kvm_host *k)
{
    free(k->cpuid);
    k->cpuid = NULL;
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

static int host_open(struct hv *hv, char *err, size_t errlen)
{
    return kvm_host_open(&hv->kvm, err, errlen);
}

static void host_close(struct hv *hv)
{
    kvm_host_close(&hv->kvm);
}

static int create_vm(struct vm *vm, char *err, size_t errlen)
{
    struct hv *hv = vm->hv;
    vm->fd = ioctl(hv->kvm.fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        return -1;
    }
    /* Intel needs these for real-mode emulation; harmless elsewhere. */
    ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
    uint64_t ident = 0xfeffc000;
    ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
    if (hv->kvm.cap_irqchip && ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) == 0)
        vm->irqchip = true;
    /* The PIT (channel 0 on IRQ 0, port 0x61 answered in the kernel) for a VM whose board has
     * one: Linux calibrates and ticks with it until its LAPIC timer runs. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (vm->cfg.pit && vm->irqchip && ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
        snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void destroy_vm(struct vm *vm)
{
    close(vm->fd);
}

static int get_tsc_khz(struct vm *vm)
{
    return ioctl(vm->fd, KVM_GET_TSC_KHZ, 0);
}

/* KVM's setters take non-const pointers but do not write through them. */
#define UNCONST(p) ((void *)(uintptr_t)(p))

static int set_memslot(struct vm *vm, const struct kvm_userspace_memory_region *r)
{
    return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, UNCONST(r));
}

static int enable_cap(struct vm *vm, const struct kvm_enable_cap *cap)
{
    return ioctl(vm->fd, KVM_ENABLE_CAP, UNCONST(cap));
}

static int set_msr_filter(struct vm *vm, const struct kvm_msr_filter *f)
{
    return ioctl(vm->fd, KVM_X86_SET_MSR_FILTER, UNCONST(f));
}

static int irq_line(struct vm *vm, const struct kvm_irq_level *irq)
{
    return ioctl(vm->fd, KVM_IRQ_LINE, UNCONST(irq));
}

static int ioeventfd(struct vm *vm, const struct kvm_ioeventfd *e)
{
    return ioctl(vm->fd, KVM_IOEVENTFD, UNCONST(e));
}

static int irqfd(struct vm *vm, const struct kvm_irqfd *f)
{
    return ioctl(vm->fd, KVM_IRQFD, UNCONST(f));
}

static int create_vcpu(struct vcpu *v, char *err, size_t errlen)
{
    v->fd = ioctl(v->vm->fd, KVM_CREATE_VCPU, (unsigned long)v->index);
    if (v->fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", v->index, strerror(errno));
        return -1;
    }
    v->run =
        mmap(NULL, (size_t)v->vm->hv->kvm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        snprintf(err, errlen, "mmap kvm_run: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void destroy_vcpu(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, (size_t)v->vm->hv->kvm.run_size);
    close(v->fd);
}

static int set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *cpuid)
{
    return ioctl(v->fd, KVM_SET_CPUID2, UNCONST(cpuid));
}

static int run(struct vcpu *v)
{
    return ioctl(v->fd, KVM_RUN, 0);
}

/* The vCPU thread's SIGUSR1 handler (vcpu_signals_init) sets immediate_exit, so a kick that
 * lands just before KVM_RUN is not lost. */
static void kick(struct vcpu *v)
{
    if (v->thread_started)
        pthread_kill(v->thread, SIGUSR1);
}

static int nmi(struct vcpu *v)
{
    return ioctl(v->fd, KVM_NMI);
}

static int kvmclock_ctrl(struct vcpu *v)
{
    return ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0);
}

/* The VM-wide state: one ioctl each. */
#define VM_GETSET(name, type, get_req, set_req)                                                    \
    static int get_##name(struct vm *vm, type *x)                                                  \
    {                                                                                              \
        return ioctl(vm->fd, get_req, x);                                                          \
    }                                                                                              \
    static int set_##name(struct vm *vm, const type *x)                                            \
    {                                                                                              \
        return ioctl(vm->fd, set_req, UNCONST(x));                                                 \
    }
VM_GETSET(irqchip, struct kvm_irqchip, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP)
VM_GETSET(pit, struct kvm_pit_state2, KVM_GET_PIT2, KVM_SET_PIT2)
VM_GETSET(clock, struct kvm_clock_data, KVM_GET_CLOCK, KVM_SET_CLOCK)

/* The state accessors: one ioctl each. */
#define GETSET(name, type, get_req, set_req)                                                       \
    static int get_##name(struct vcpu *v, type *x)                                                 \
    {                                                                                              \
        return ioctl(v->fd, get_req, x);                                                           \
    }                                                                                              \
    static int set_##name(struct vcpu *v, const type *x)                                           \
    {                                                                                              \
        return ioctl(v->fd, set_req, UNCONST(x));                                                  \
    }
GETSET(regs, struct kvm_regs, KVM_GET_REGS, KVM_SET_REGS)
GETSET(sregs, struct kvm_sregs, KVM_GET_SREGS, KVM_SET_SREGS)
GETSET(fpu, struct kvm_fpu, KVM_GET_FPU, KVM_SET_FPU)
GETSET(xsave, struct kvm_xsave, KVM_GET_XSAVE, KVM_SET_XSAVE)
GETSET(xcrs, struct kvm_xcrs, KVM_GET_XCRS, KVM_SET_XCRS)
GETSET(msrs, struct kvm_msrs, KVM_GET_MSRS, KVM_SET_MSRS)
GETSET(lapic, struct kvm_lapic_state, KVM_GET_LAPIC, KVM_SET_LAPIC)
GETSET(events, struct kvm_vcpu_events, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS)
GETSET(mp_state, struct kvm_mp_state, KVM_GET_MP_STATE, KVM_SET_MP_STATE)
GETSET(debugregs, struct kvm_debugregs, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS)

static int set_guest_debug(struct vcpu *v, const struct kvm_guest_debug *d)
{
    return ioctl(v->fd, KVM_SET_GUEST_DEBUG, UNCONST(d));
}

#define OPS(name) .get_##name = get_##name, .set_##name = set_##name

const struct platform_ops platform_kvm = {
    .name = "kvm",
    .open = host_open,
    .close = host_close,
    .create_vm = create_vm,
    .destroy_vm = destroy_vm,
    .get_tsc_khz = get_tsc_khz,
    .set_memslot = set_memslot,
    .enable_cap = enable_cap,
    .set_msr_filter = set_msr_filter,
    .irq_line = irq_line,
    .ioeventfd = ioeventfd,
    .irqfd = irqfd,
    .create_vcpu = create_vcpu,
    .destroy_vcpu = destroy_vcpu,
    .set_cpuid = set_cpuid,
    .run = run,
    .kick = kick,
    .nmi = nmi,
    .kvmclock_ctrl = kvmclock_ctrl,
    OPS(irqchip),
    OPS(pit),
    OPS(clock),
    OPS(regs),
    OPS(sregs),
    OPS(fpu),
    OPS(xsave),
    OPS(xcrs),
    OPS(msrs),
    OPS(lapic),
    OPS(events),
    OPS(mp_state),
    OPS(debugregs),
    .set_guest_debug = set_guest_debug,
};
