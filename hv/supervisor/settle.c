/* settle.c: the main loop's settling of VMs that stopped: SEL records, the foreground, resets. */
#include "supervisor/settle.h"

#include "base/log.h"
#include "supervisor/events.h"
#include "supervisor/snapshot.h"
#include "supervisor/switch.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>

static bool stop_pending(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool pending = vm->stop_pending;
    pthread_mutex_unlock(&vm->lock);
    return pending;
}

static void settle_reset(struct hv *hv, struct vm *vm)
{
    char err[256];
    bool was_foreground = atomic_load(&hv->foreground) == vm;
    if (vm_reset(vm, err, sizeof err) < 0) {
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_RESET, vm, "reset failed: %s", err);
        pthread_mutex_lock(&vm->lock);
        vm->state = VM_CRASHED;
        pthread_mutex_unlock(&vm->lock);
        hv_hand_to_service(hv, vm, "the guest could not be reset");
        return;
    }
    hv_event(hv, SEL_WARNING, SEL_T_VM_RESET, vm, "reset by policy");
    /* A guest runs only in the foreground: one that was there boots again at once. */
    if ((was_foreground || !hv->service) && vm_start(vm, err, sizeof err) < 0)
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_BOOT, vm, "boot after reset failed: %s", err);
}

/* Seed 004's deprivileged service VM: its crash is contained, recorded and
 * followed by a fresh boot, while the guest goes on undisturbed. */
static void restart_service(struct hv *hv, struct vm *vm)
{
    char err[256];
    if (vm_reset(vm, err, sizeof err) < 0 || vm_start(vm, err, sizeof err) < 0) {
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_RESET, vm, "service VM restart failed: %s", err);
        return;
    }
    atomic_fetch_add(&hv->service_restarts, 1);
    hv_event(hv, SEL_WARNING, SEL_T_VM_RESET, vm, "service VM restarted (restart %llu)",
             (unsigned long long)atomic_load(&hv->service_restarts));
}

/* Records a VM's request; a reset (or a service VM's restart) is left to settle_deferred, which
 * does it once no snapshot writer reads the VM's RAM. */
static void settle(struct hv *hv, struct vm *vm)
{
    char err[200];
    bool captured = false;
    if (vm_park(vm, err, sizeof err) < 0)
        log_warn("%s: %s", vm->name, err); /* the VM still stops; its state may be incomplete */
    else if (vm_wait_captured(vm, err, sizeof err) < 0)
        log_warn("%s", err);
    else
        captured = true;
    /* What the request says is copied under the lock: the watchdog and the vCPUs write it. */
    pthread_mutex_lock(&vm->lock);
    enum vm_request req = vm->req;
    vm->state = req == VMREQ_RESET ? vm->state : vm->stop_state;
    vm->state_ns = now_ns();
    vm->stop_pending = false;
    enum vm_state state = vm->state;
    uint64_t req_ns = vm->req_ns, sel_id = vm->req_sel_id, halt_status = vm->halt_status;
    int event = vm->req_event;
    char reason[sizeof vm->stop_reason];
    memcpy(reason, vm->stop_reason, sizeof reason);
    pthread_mutex_unlock(&vm->lock);
    if (captured && req == VMREQ_FREEZE)
        stats_add(&hv->trap_freeze, now_ns() - req_ns); /* frozen with the state captured */
    vm->snapshot_hold = false; /* the request decides what becomes of it now */
    if (req == VMREQ_RESET) {
        vm->reset_pending = true;
        return;
    }
    const struct vcpu *c = &vm->vcpus[vm_crashed_vcpu(vm)];
    const struct kvm_regs *r = &c->state.regs;
    if (state == VM_CRASHED && c->evidence.lost)
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_CRASH, vm, "crashed: %s (vCPU %u: registers lost)",
                 reason, c->index);
    else if (state == VM_CRASHED)
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_CRASH, vm,
                 "crashed: %s (vCPU %u: rip 0x%llx rsp 0x%llx)", reason, c->index,
                 (unsigned long long)r->rip, (unsigned long long)r->rsp);
    else if (state == VM_FROZEN)
        hv_event(hv, SEL_WARNING, SEL_T_TRAP, vm, "frozen: %s (rip 0x%llx)", reason,
                 (unsigned long long)r->rip);
    else
        hv_event(hv, halt_status ? SEL_WARNING : SEL_OK, SEL_T_VM_HALT, vm, "%s", reason);
    if (req == VMREQ_FREEZE) {
        char trigger[64];
        snprintf(trigger, sizeof trigger, "trap:%s",
                 event >= 0 ? policy_event_name((enum policy_event)event) : "?");
        if (snapshot_begin(hv, vm, trigger, sel_id, NULL, err, sizeof err) < 0)
            hv_event(hv, SEL_WARNING, SEL_T_SNAPSHOT, vm, "no snapshot: %s", err);
    }
    if (vm == hv->service) {
        vm->reset_pending = true;
        if (snapshot_busy(vm)) /* its RAM is the evidence until the core is written */
            log_info("%s: restarts once its snapshot is written", vm->name);
        return;
    }
    hv_hand_to_service(hv, vm,
                       state == VM_CRASHED  ? "the guest crashed"
                       : state == VM_FROZEN ? "a trap froze the guest"
                                            : "the guest halted");
}

/* What waited for a snapshot writer: a requested snapshot's VM runs on, a reset or a service
 * VM's restart goes ahead.  The writer wakes the main loop when it ends, which comes here; no
 * one waits for it meanwhile. */
static void settle_deferred(struct hv *hv, struct vm *vm)
{
    if ((!vm->snapshot_hold && !vm->reset_pending) || snapshot_busy(vm))
        return;
    if (vm->snapshot_hold) {
        char err[200];
        vm->snapshot_hold = false;
        /* Unless a switch, a pause or a trap has stopped it since, it was running. */
        if (vm_get_state(vm) == VM_RUNNING && vm_unpark(vm, false, 0, err, sizeof err) < 0)
            log_warn("%s: %s", vm->name, err);
    }
    if (vm->reset_pending) {
        vm->reset_pending = false;
        if (vm == hv->service)
            restart_service(hv, vm);
        else
            settle_reset(hv, vm);
    }
}

void hv_settle_stopped_vms(struct hv *hv)
{
    pthread_mutex_lock(&hv->switch_lock);
    for (uint32_t i = 0; i < hv->nvms; i++) {
        struct vm *vm = hv->vms[i];
        if (stop_pending(vm))
            settle(hv, vm);
    }
    for (uint32_t i = 0; i < hv->nvms; i++)
        settle_deferred(hv, hv->vms[i]);
    pthread_mutex_unlock(&hv->switch_lock);
}
