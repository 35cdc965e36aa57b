/* vm.c: a VM's life: creation (KVM VM, RAM, image, vCPUs), reset, release and teardown. */
#include "vmm/vm.h"

#include "base/log.h"
#include "base/thread.h"
#include "vmm/platform.h"
#include "vmm/vm_linux.h"
#include "x86/elf_loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

static int create_vcpu(struct vm *vm, uint32_t index, char *err, size_t errlen)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    struct kvm_host *k = &vm->hv->kvm;
    struct vcpu *v = &vm->vcpus[index];
    v->vm = vm;
    v->index = index;
    v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (v->wake_fd < 0) {
        snprintf(err, errlen, "eventfd for vCPU %u: %s", index, strerror(errno));
        return -1;
    }
    if (p->create_vcpu(v, err, errlen) < 0)
        return -1;
    /* CPUID as KVM supports it, with this vCPU's APIC ID. */
    size_t cpuid_size = sizeof *k->cpuid + k->cpuid->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid = malloc(cpuid_size);
    if (!cpuid) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cpuid, k->cpuid, cpuid_size);
    struct kvm_cpuid_entry2 *leaf1 = cpuid_find(cpuid, 1, 0);
    if (leaf1)
        leaf1->ebx = (leaf1->ebx & 0x00ffffffu) | (index << 24);
    if (vm->cfg.kernel)
        vm_linux_cpuid(cpuid, index, vm->irqchip && k->cap_tsc_deadline);
    int rc = p->set_cpuid(v, cpuid);
    free(cpuid);
    if (rc < 0) {
        snprintf(err, errlen, "KVM_SET_CPUID2: %s", strerror(errno));
        return -1;
    }
    if (vm->cfg.kernel)
        return vm_linux_vcpu(v, err, errlen);
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    if (p->get_sregs(v, &sregs) < 0) {
        snprintf(err, errlen, "KVM_GET_SREGS: %s", strerror(errno));
        return -1;
    }
    boot_vcpu_sregs(&vm->boot, index, k->cpuid, &sregs);
    boot_vcpu_regs(&vm->boot, index, &regs);
    if (p->set_sregs(v, &sregs) < 0 || p->set_regs(v, &regs) < 0) {
        snprintf(err, errlen, "setting the long-mode start state: %s", strerror(errno));
        return -1;
    }
    uint64_t xcr0 = boot_xcr0(k->cpuid);
    if (xcr0 && k->cap_xcrs) {
        struct kvm_xcrs xcrs = {.nr_xcrs = 1, .xcrs[0] = {.xcr = 0, .value = xcr0}};
        if (p->set_xcrs(v, &xcrs) < 0)
            log_warn("%s: KVM_SET_XCRS 0x%llx: %s", vm->name, (unsigned long long)xcr0,
                     strerror(errno));
    }
    /* With an in-kernel LAPIC, secondary vCPUs would wait for INIT/SIPI. */
    struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_RUNNABLE};
    if (p->set_mp_state(v, &mp) < 0)
        log_debug("%s: KVM_SET_MP_STATE: %s", vm->name, strerror(errno));
    return 0;
}

static int load_image(struct vm *vm, char *err, size_t errlen)
{
    if (vm->cfg.kernel)
        return vm_linux_load(vm, err, errlen);
    uint8_t *file;
    size_t len;
    char why[200];
    if (elf_read_file(vm->cfg.image, HV_IMAGE_MAX, &file, &len, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    struct elf_image img;
    int rc = elf_load(file, len, vm->mem, vm->mem_size, &img, why, sizeof why);
    free(file);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", vm->cfg.image, why);
        return -1;
    }
    vm->boot.entry = img.entry;
    vm->boot.image_start = img.start;
    vm->boot.image_end = img.end;
    return 0;
}

struct vm *hv_find_vm(struct hv *hv, const char *name)
{
    for (uint32_t i = 0; i < hv->nvms; i++)
        if (!strcmp(hv->vms[i]->name, name))
            return hv->vms[i];
    return NULL;
}

static int setup_kvm_vm(struct vm *vm, char *err, size_t errlen)
{
    struct hv *hv = vm->hv;
    if (hv_platform(hv)->create_vm(vm, err, errlen) < 0)
        return -1;
    pthread_mutex_lock(&vm->irq_lock); /* a new irqchip: every line low, none driven yet */
    vm->irq_levels = vm->irq_driven = 0;
    pthread_mutex_unlock(&vm->irq_lock);
    /* Private: nothing shares guest RAM with another process (hv never forks), and only private
     * anonymous memory gets transparent huge pages where hosts default shmem THP to "never". */
    vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->mem == MAP_FAILED) {
        vm->mem = NULL;
        snprintf(err, errlen, "cannot map %llu MiB of guest RAM: %s",
                 (unsigned long long)(vm->mem_size >> 20), strerror(errno));
        return -1;
    }
    madvise(vm->mem, vm->mem_size, MADV_DONTDUMP);
    /* A Linux guest touches most of its RAM and runs with paging on: 2 MiB host pages let KVM
     * map it with 2 MiB nested pages, many fewer faults and TLB misses (in the nested machine
     * each one is emulated).  hv's own guests touch little and would only grow (their sparse
     * cores too), so they keep 4 KiB pages even where THP is "always", as with shared memory
     * before.  Advice only: a host without THP maps 4 KiB pages. */
    madvise(vm->mem, vm->mem_size, vm->cfg.kernel ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    struct policy_params pp;
    policy_get_params(&hv->policy, &pp);
    if (!atomic_load(&hv->traps_armed))
        pp.nprotected = pp.nmsrs = 0;
    vm->nslots = 0;
    vm->msr_exits = false;
    if (vm->role == VIGIL_ROLE_SERVICE) /* the policy guards guests; the service VM gets one slot */
        pp.nprotected = pp.nmsrs = 0;
    if (vm->role == VIGIL_ROLE_SERVICE && vm_arm_protection_plain(vm, err, errlen) < 0)
        return -1;
    return vm_arm_protection(vm, &pp, err, errlen) < 0 ||
                   vm_arm_msr_filter(vm, &pp, err, errlen) < 0
               ? -1
               : 0;
}

static void vm_teardown(struct vm *vm);

/* KVM VM, RAM, image, boot tables, vCPUs: everything a boot starts from. */
static int build_machine(struct vm *vm, char *err, size_t errlen)
{
    struct hv *hv = vm->hv;
    char why[200];
    /* The TSC rate guests see; KVM answers it per VM once the VM exists (below). */
    if (setup_kvm_vm(vm, why, sizeof why) < 0 || load_image(vm, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", vm->name, why);
        return -1;
    }
    int khz = hv_platform(hv)->get_tsc_khz(vm);
    vm->boot.tsc_hz = khz > 0 ? (uint64_t)khz * 1000 : 0;
    /* A Linux VM's tables are the bzImage loader's. */
    if (!vm->cfg.kernel && boot_write_tables(vm->mem, &vm->boot, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s: %s", vm->name, why);
        return -1;
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        if (create_vcpu(vm, i, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: vCPU %u: %s", vm->name, i, why);
            return -1;
        }
        if (i == 0 && hv->kvm.nmsrs)
            vcpu_state_prune_msrs(&hv->kvm, &vm->vcpus[0]);
    }
    return 0;
}

void vm_release(struct vm *vm)
{
    vm_teardown(vm);
    pthread_mutex_lock(&vm->lock);
    vm->state = VM_CREATED;
    vm->state_ns = now_ns();
    pthread_mutex_unlock(&vm->lock);
}

int vm_reset(struct vm *vm, char *err, size_t errlen)
{
    vm_teardown(vm);
    pthread_mutex_lock(&vm->lock);
    vm->state = VM_CREATED;
    vm->state_ns = now_ns();
    vm->stop_pending = false;
    vm->req_event = -1;
    vm->stop_reason[0] = 0;
    vm->halt_status = 0;
    pthread_mutex_unlock(&vm->lock);
    atomic_store(&vm->events, 0);
    atomic_store(&vm->nmi_pending, false);
    if (build_machine(vm, err, errlen) < 0)
        return -1;
    devices_reset(&vm->devices);
    return 0;
}

int vm_create(struct hv *hv, const struct vm_config *cfg, struct vm **out, char *err, size_t errlen)
{
    if (cfg->vcpus < 1 || cfg->vcpus > HV_MAX_VCPUS) {
        snprintf(err, errlen, "%s: %u vCPUs requested; 1 to %d are supported", cfg->name,
                 cfg->vcpus, HV_MAX_VCPUS);
        return -1;
    }
    struct vm *vm = calloc(1, sizeof *vm);
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    vm->hv = hv;
    vm->cfg = *cfg;
    vm->fd = -1;
    snprintf(vm->name, sizeof vm->name, "%s", cfg->name);
    vm->role = cfg->role;
    vm->mem_size = cfg->mem_size;
    vm->nvcpus = cfg->vcpus;
    vm->state = VM_CREATED;
    vm->state_ns = now_ns();
    pthread_mutex_init(&vm->lock, NULL);
    pthread_mutex_init(&vm->irq_lock, NULL);
    hv_cond_init_monotonic(&vm->cond);
    console_init(&vm->console);
    vm->console.echo_fd = hv->term_fd;
    for (uint32_t i = 0; i < HV_MAX_VCPUS; i++) {
        vm->vcpus[i].vm = vm; /* even before a vCPU exists: vcpu_kick finds the lock through it */
        vm->vcpus[i].index = i;
        vm->vcpus[i].fd = vm->vcpus[i].wake_fd = -1;
    }

    vm->boot = (struct boot_params){
        .mem_size = cfg->mem_size,
        .vcpus = cfg->vcpus,
        .cmdline = cfg->cmdline,
        .name = vm->name,
        .flags =
            (cfg->role == VIGIL_ROLE_SERVICE ? VIGIL_BOOT_F_SERVICE : 0) |
            (cfg->cpl0 ? VIGIL_BOOT_F_CPL0 : 0) |
            (cfg->role == VIGIL_ROLE_SERVICE && hv->cfg.autostart_guest ? VIGIL_BOOT_F_AUTOSTART
                                                                        : 0) |
            (hv->cfg.no_service ? VIGIL_BOOT_F_ALONE : 0),
    };
    vm->req_event = -1;
    if (cfg->mem_size < BOOT_MIN_MEM || cfg->mem_size > BOOT_MAX_MEM ||
        (cfg->mem_size & ((2u << 20) - 1))) {
        snprintf(err, errlen,
                 "%s: memory size %llu MiB: must be a multiple of 2 MiB in [4 MiB, 64 GiB]",
                 cfg->name, (unsigned long long)(cfg->mem_size >> 20));
        goto fail;
    }
    for (uint32_t i = 0; i < cfg->ndevices; i++) {
        char why[200];
        if (devices_attach(&vm->devices, cfg->devices[i], vm, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: %s", cfg->name, why);
            goto fail;
        }
    }
    uint32_t nboot = devices_boot_info(&vm->devices, vm->boot.devices, VIGIL_BOOT_DEV_MAX);
    if (nboot > VIGIL_BOOT_DEV_MAX) {
        snprintf(err, errlen, "%s: %u devices for the boot info, at most %u", cfg->name, nboot,
                 VIGIL_BOOT_DEV_MAX);
        goto fail;
    }
    vm->boot.ndevices = nboot;
    if (build_machine(vm, err, errlen) < 0)
        goto fail;
    devices_reset(&vm->devices); /* the machine exists: devices meet their RAM and VM */
    *out = vm;
    return 0;
fail:
    vm_destroy(vm);
    return -1;
}

/* Ends the vCPU threads and frees the KVM objects and RAM; the struct stays. */
static void vm_teardown(struct vm *vm)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        pthread_mutex_lock(&vm->lock);
        bool started = v->thread_started;
        pthread_t thread = v->thread;
        if (started) {
            atomic_store(&v->request, VCPU_REQ_EXIT);
            vcpu_kick_locked(v);
            /* Cleared before the join, under the lock every kicker holds: no kick (the
             * watchdog's, an event's) can reach the thread once it is joined. */
            v->thread_started = false;
            pthread_cond_broadcast(&vm->cond);
        }
        pthread_mutex_unlock(&vm->lock);
        if (started)
            pthread_join(thread, NULL);
    }
    devices_release(&vm->devices); /* no vCPU runs; device threads let go of RAM and VM */
    pthread_mutex_lock(&vm->lock); /* other threads read vCPU fields under it */
    for (uint32_t i = 0; i < HV_MAX_VCPUS; i++) {
        struct vcpu *v = &vm->vcpus[i];
        if (v->fd >= 0)
            p->destroy_vcpu(v);
        if (v->wake_fd >= 0)
            close(v->wake_fd);
        memset(v, 0, sizeof *v);
        v->vm = vm;
        v->index = i;
        v->fd = v->wake_fd = -1;
    }
    pthread_mutex_unlock(&vm->lock);
    if (vm->fd >= 0)
        p->destroy_vm(vm);
    vm->fd = -1;
    if (vm->mem)
        munmap(vm->mem, vm->mem_size);
    vm->mem = NULL;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    vm_teardown(vm);
    devices_destroy(&vm->devices);
    console_destroy(&vm->console);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    pthread_mutex_destroy(&vm->irq_lock);
    free(vm);
}
