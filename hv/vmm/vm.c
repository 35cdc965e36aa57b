/* vm.c: VM creation and teardown, the park/unpark protocol for vCPUs, events and console plumbing.
 */
#include "vmm/vm.h"

#include "base/log.h"
#include "base/thread.h"
#include "vmm/platform.h"
#include "vmm/vm_linux.h"
#include "x86/elf_loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define PARK_TIMEOUT_NS (2ull * 1000000000ull)

const char *vm_state_name(enum vm_state s)
{
    static const char *const names[] = {"created", "running", "paused",
                                        "frozen",  "halted",  "crashed"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
    uint64_t end;
    if (__builtin_add_overflow(gpa, len, &end) || end > vm->mem_size)
        return NULL;
    return vm->mem + gpa;
}

uint32_t vm_crashed_vcpu(const struct vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i].evidence.reported || vm->vcpus[i].evidence.lost)
            return i;
    return 0;
}

void vm_console_out(struct vm *vm, const void *buf, size_t len)
{
    console_output(&vm->console, buf, len, atomic_load(&vm->hv->foreground) == vm);
}

size_t vm_console_in(struct vm *vm, const void *buf, size_t len)
{
    size_t n = console_input_push(&vm->console, buf, len);
    devices_console_input(&vm->devices);
    vm_raise_event(vm, 0);
    return n;
}

size_t vm_console_take(struct vm *vm, void *buf, size_t max)
{
    size_t n = console_input_pop(&vm->console, buf, max);
    devices_console_input(&vm->devices); /* a UART's "data ready" may have gone */
    return n;
}

void vm_irq_line(struct vm *vm, uint32_t irq, bool level)
{
    if (!vm->irqchip)
        return;
    struct kvm_irq_level l = {.irq = irq, .level = level};
    if (hv_platform(vm->hv)->irq_line(vm, &l) < 0)
        log_warn("%s: KVM_IRQ_LINE %u: %s", vm->name, irq, strerror(errno));
}

void vm_raise_event(struct vm *vm, uint64_t events)
{
    atomic_fetch_or(&vm->events, events);
    /* Under the lock: a reset of this VM (e.g. the service VM's restart) closes the eventfds,
     * and the main loop may reuse their numbers at once. */
    pthread_mutex_lock(&vm->lock);
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        uint64_t one = 1;
        if (vm->vcpus[i].wake_fd >= 0) {
            ssize_t w = write(vm->vcpus[i].wake_fd, &one, sizeof one);
            (void)w;
        }
    }
    pthread_mutex_unlock(&vm->lock);
}

void hv_wake_main_loop(struct hv *hv)
{
    uint64_t one = 1;
    ssize_t w = write(hv->work_fd, &one, sizeof one);
    (void)w;
}

enum vm_state vm_get_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

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
        vm_linux_cpuid(cpuid, index);
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
    vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->mem == MAP_FAILED) {
        vm->mem = NULL;
        snprintf(err, errlen, "cannot map %llu MiB of guest RAM: %s",
                 (unsigned long long)(vm->mem_size >> 20), strerror(errno));
        return -1;
    }
    madvise(vm->mem, vm->mem_size, MADV_DONTDUMP);
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

int vm_start(struct vm *vm, char *err, size_t errlen)
{
    /* thread and thread_started change under the lock that kickers hold (vcpu_kick). */
    pthread_mutex_lock(&vm->lock);
    vm->state = VM_RUNNING;
    vm->boot_ns = vm->state_ns = vm->running_since_ns = now_ns();
    int rc = 0;
    uint32_t i;
    for (i = 0; i < vm->nvcpus && !rc; i++) {
        struct vcpu *v = &vm->vcpus[i];
        rc = hv_thread_create(&v->thread, vcpu_thread_main, v);
        v->thread_started = rc == 0;
    }
    pthread_mutex_unlock(&vm->lock);
    if (rc) {
        snprintf(err, errlen, "%s: cannot start vCPU %u: %s", vm->name, i - 1, strerror(rc));
        return -1; /* already-started vCPUs run on; the VM is reported as running */
    }
    return 0;
}

static bool all_parked(struct vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i].thread_started && !vm->vcpus[i].parked)
            return false;
    return true;
}

/* Under vm->lock; the caller broadcasts vm->cond after unlocking. */
static void release_vcpus(struct vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        atomic_store(&vm->vcpus[i].request, VCPU_REQ_NONE);
        vm->vcpus[i].parked = false;
    }
}

int vm_park(struct vm *vm, char *err, size_t errlen)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct vcpu *v = &vm->vcpus[i];
        atomic_store(&v->request, VCPU_REQ_PARK);
        vcpu_kick(v);
    }
    struct timespec deadline = hv_deadline_ns(PARK_TIMEOUT_NS);
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    while (!all_parked(vm) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline);
    if (!all_parked(vm)) {
        release_vcpus(vm);
        pthread_mutex_unlock(&vm->lock);
        pthread_cond_broadcast(&vm->cond);
        snprintf(err, errlen, "%s: vCPUs did not stop within %llu ms", vm->name,
                 PARK_TIMEOUT_NS / 1000000ull);
        return -1;
    }
    pthread_mutex_unlock(&vm->lock);
    /* A Linux guest's machine outside its vCPUs (docs/linux-guest.md); hv's own guests use none
     * of it, and their switches do not pay its five calls. */
    char why[160];
    if (vm->cfg.kernel && vm_machine_capture(vm, why, sizeof why) < 0)
        log_warn("%s: capturing the irqchip, PIT and clock: %s", vm->name, why);
    return 0;
}

int vm_wait_captured(struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    for (;;) {
        bool busy = false;
        for (uint32_t i = 0; i < vm->nvcpus; i++)
            busy |= vm->vcpus[i].parked && vm->vcpus[i].capturing;
        if (!busy)
            break;
        pthread_cond_wait(&vm->cond, &vm->lock);
    }
    int rc = 0;
    for (uint32_t i = 0; i < vm->nvcpus && !rc; i++)
        if (vm->vcpus[i].thread_started && vm->vcpus[i].parked && !vm->vcpus[i].state_valid) {
            snprintf(err, errlen, "%s: capturing vCPU %u failed: %s", vm->name, i,
                     vm->vcpus[i].state_error);
            rc = -1;
        }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

/* Whether resuming must write the control structure back into KVM: only if someone changed it
 * (which needs the capture done first) or --restore-always asks for it. */
static bool needs_write_back(struct vm *vm)
{
    bool any = vm->hv->cfg.restore_always;
    pthread_mutex_lock(&vm->lock);
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        any |= vm->vcpus[i].state_dirty;
    pthread_mutex_unlock(&vm->lock);
    return any;
}

int vm_unpark(struct vm *vm, bool restore, uint64_t stamp, char *err, size_t errlen)
{
    /* Otherwise KVM still holds exactly the state the vCPUs stopped with, and the capture is not
     * waited for: a vCPU that has not begun it skips it, one that has finishes it and runs. */
    if (restore && needs_write_back(vm)) {
        char why[160];
        if (vm_wait_captured(vm, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        /* The VM-wide state first: a LAPIC written back then takes the I/O APIC it had. */
        if (vm->hv->cfg.restore_always && vm->cfg.kernel &&
            vm_machine_restore(vm, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: restoring its machine: %s", vm->name, why);
            return -1;
        }
        for (uint32_t i = 0; i < vm->nvcpus; i++) {
            struct vcpu *v = &vm->vcpus[i];
            bool write_back = v->state_dirty || vm->hv->cfg.restore_always;
            if (v->state_valid && write_back &&
                vcpu_state_restore(v, &v->state, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s: restoring vCPU %u: %s", vm->name, i, why);
                return -1;
            }
        }
    }
    if (stamp && atomic_exchange(&vm->vcpus[0].entry_stamp, stamp))
        atomic_fetch_add(&vm->hv->entry_misses, 1);
    pthread_mutex_lock(&vm->lock);
    vm->running_since_ns = now_ns();
    release_vcpus(vm);
    pthread_mutex_unlock(&vm->lock);
    pthread_cond_broadcast(&vm->cond);
    return 0;
}

static void vm_vrequest(struct vm *vm, struct vcpu *self, enum vm_request req, enum vm_state result,
                        int event, uint64_t sel_id, uint64_t status, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop_pending && vm->state != VM_HALTED && vm->state != VM_CRASHED) {
        vm->stop_pending = true;
        vm->req = req;
        vm->stop_state = result;
        vm->req_event = event;
        vm->req_sel_id = sel_id;
        vm->req_ns = now_ns();
        vm->halt_status = status;
        vsnprintf(vm->stop_reason, sizeof vm->stop_reason, fmt, ap);
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        atomic_store(&vm->vcpus[i].request, VCPU_REQ_PARK);
        if (&vm->vcpus[i] != self)
            vcpu_kick_locked(&vm->vcpus[i]);
    }
    pthread_mutex_unlock(&vm->lock);
    hv_wake_main_loop(vm->hv);
}

void vm_request(struct vm *vm, struct vcpu *self, enum vm_request req, enum vm_state result,
                int event, uint64_t sel_id, uint64_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_vrequest(vm, self, req, result, event, sel_id, status, fmt, ap);
    va_end(ap);
}

void vm_stop_from_vcpu(struct vcpu *v, enum vm_state why, uint64_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_vrequest(v->vm, v, VMREQ_STOP, why, -1, 0, status, fmt, ap);
    va_end(ap);
}

bool vm_trap(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
{
    char detail[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    const struct vmm_hooks *h = vm->hv->hooks;
    if (h && h->trap)
        return h->trap(vm, self, ev, detail);
    /* No policy to ask (a benchmark driving libhv): keep what evidence there is. */
    log_warn("%s: %s: %s", vm->name, policy_event_name(ev), detail);
    vm_request(vm, self, VMREQ_STOP, VM_CRASHED, (int)ev, 0, 0, "%s: %s", policy_event_name(ev),
               detail);
    return false;
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
    free(vm);
}
