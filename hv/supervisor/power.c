/* power.c: an operator's reset, power-off, power-on and NMI of a VM, over the same machinery
 * the policy's reset and the service VM's restart use (vm_reset, the main loop's settle). */
#include "supervisor/power.h"

#include "base/log.h"
#include "supervisor/events.h"
#include "supervisor/snapshot.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>

/* Under switch_lock: whether the VM may be rebuilt or stopped now. */
static int can_act(struct vm *vm, bool needs_ram, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    bool pending = vm->stop_pending;
    pthread_mutex_unlock(&vm->lock);
    if (pending) {
        snprintf(err, errlen, "%s is stopping (a trap or halt is being settled); try again",
                 vm->name);
        return -1;
    }
    if (needs_ram && snapshot_busy(vm)) {
        snprintf(err, errlen,
                 "a snapshot of %s is being written from its RAM; try again once it is done",
                 vm->name);
        return -1;
    }
    return 0;
}

static void set_state(struct vm *vm, enum vm_state s, const char *reason)
{
    pthread_mutex_lock(&vm->lock);
    vm->state = s;
    vm->state_ns = now_ns();
    if (reason) {
        snprintf(vm->stop_reason, sizeof vm->stop_reason, "%s", reason);
        vm->halt_status = 0;
    }
    pthread_mutex_unlock(&vm->lock);
}

/* The service VM's restart is hv's own (switch.c's restart_service, as after its crash): asked
 * for here, done by the main loop once this answer is on its way. */
static void request_service_restart(struct vm *svc)
{
    vm_request(svc, NULL, VMREQ_RESET, VM_CREATED, -1, 0, 0, "restart requested by an operator");
}

int hv_vm_reset(struct hv *hv, struct vm *vm, bool *pending, char *err, size_t errlen)
{
    *pending = false;
    if (vm == atomic_load(&hv->service)) {
        hv_event(hv, SEL_WARNING, SEL_T_OPERATOR, vm, "restart requested by an operator");
        request_service_restart(vm);
        *pending = true;
        return 0;
    }
    pthread_mutex_lock(&hv->switch_lock);
    if (can_act(vm, true, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    bool was_foreground = atomic_load(&hv->foreground) == vm;
    enum vm_state st = vm_get_state(vm);
    if (st == VM_RUNNING && vm_park(vm, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    vm->snapshot_hold = false; /* nothing is left to run on after a requested snapshot */
    int rc = 0;
    if (vm_reset(vm, err, errlen) < 0) {
        set_state(vm, VM_CRASHED, "the reset failed");
        hv_hand_to_service(hv, vm, "the guest could not be reset");
        rc = -1;
    } else if ((was_foreground || !atomic_load(&hv->service)) && st != VM_CREATED) {
        rc = vm_start(vm, err, errlen);
    }
    pthread_mutex_unlock(&hv->switch_lock);
    if (rc == 0)
        hv_event(hv, SEL_WARNING, SEL_T_VM_RESET, vm, "reset by an operator (%s)",
                 vm_state_name(vm_get_state(vm)));
    else
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_RESET, vm, "operator reset failed: %s", err);
    return rc;
}

int hv_vm_poweroff(struct hv *hv, struct vm *vm, char *err, size_t errlen)
{
    if (vm == atomic_load(&hv->service)) {
        snprintf(err, errlen,
                 "the service VM cannot be powered off (nothing could power it on): restart it");
        return -1;
    }
    pthread_mutex_lock(&hv->switch_lock);
    if (can_act(vm, false, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    enum vm_state st = vm_get_state(vm);
    if (st == VM_RUNNING && vm_park(vm, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    /* Parked (or never started), RAM and registers kept: a snapshot may still be taken. */
    vm->snapshot_hold = false;
    set_state(vm, VM_HALTED, "powered off by an operator");
    hv_hand_to_service(hv, vm, "the guest was powered off");
    pthread_mutex_unlock(&hv->switch_lock);
    hv_event(hv, SEL_OK, SEL_T_VM_HALT, vm, "powered off by an operator (it was %s)",
             vm_state_name(st));
    return 0;
}

int hv_vm_poweron(struct hv *hv, struct vm *vm, char *err, size_t errlen)
{
    if (vm == atomic_load(&hv->service)) {
        snprintf(err, errlen, "the service VM is always on: restart it instead");
        return -1;
    }
    pthread_mutex_lock(&hv->switch_lock);
    enum vm_state st = vm_get_state(vm);
    int rc = can_act(vm, true, err, errlen);
    if (rc == 0 && st != VM_HALTED && st != VM_CRASHED && st != VM_CREATED) {
        snprintf(err, errlen, "%s is already on (%s)", vm->name, vm_state_name(st));
        rc = -1;
    }
    if (rc == 0 && st != VM_CREATED && vm_reset(vm, err, errlen) < 0) {
        set_state(vm, VM_CRASHED, "the power-on failed");
        rc = -1;
    }
    if (rc == 0 && !atomic_load(&hv->service)) /* devirtualized: nothing to switch from */
        rc = vm_start(vm, err, errlen);
    pthread_mutex_unlock(&hv->switch_lock);
    /* A guest runs only in the foreground: it boots by a switch to it. */
    if (rc == 0 && atomic_load(&hv->service))
        rc = hv_switch_to(hv, vm, "power on", now_ns(), err, errlen);
    if (rc == 0)
        hv_event(hv, SEL_OK, SEL_T_VM_BOOT, vm, "powered on by an operator");
    return rc;
}

int hv_vm_nmi(struct hv *hv, struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state st = vm->state;
    bool pending = vm->stop_pending;
    if (st == VM_RUNNING && !pending) {
        /* vCPU 0 injects it on its own thread, when the guest can take it (vcpu_deliver_nmi). */
        atomic_store(&vm->nmi_pending, true);
        vcpu_kick_locked(&vm->vcpus[0]);
    }
    pthread_mutex_unlock(&vm->lock);
    if (st != VM_RUNNING || pending) {
        snprintf(err, errlen, "%s is %s: an NMI needs a running VM", vm->name,
                 pending ? "stopping" : vm_state_name(st));
        return -1;
    }
    hv_event(hv, SEL_WARNING, SEL_T_OPERATOR, vm, "NMI injected by an operator");
    return 0;
}
