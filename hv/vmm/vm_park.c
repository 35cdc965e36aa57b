/* vm_park.c: a VM's vCPU threads: started, parked (stopped, state captured) and unparked. */
#include "vmm/vm.h"

#include "base/log.h"
#include "base/thread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PARK_TIMEOUT_NS (2ull * 1000000000ull)

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
        /* Last, once the chips and LAPICs are as captured: what devices raised since then. */
        vm_irq_replay(vm);
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
