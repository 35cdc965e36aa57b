/* switch.c: the atomic VM switch and the other foreground/run-state transitions, one at a time. */
#include "supervisor/switch.h"

#include "base/log.h"
#include "supervisor/events.h"
#include "supervisor/snapshot.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void set_state(struct vm *vm, enum vm_state s)
{
    pthread_mutex_lock(&vm->lock);
    vm->state = s;
    vm->state_ns = now_ns();
    pthread_mutex_unlock(&vm->lock);
}

static enum vm_state get_state(struct vm *vm, bool *stop_pending)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state s = vm->state;
    if (stop_pending)
        *stop_pending = vm->stop_pending;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

static void announce(struct hv *hv, struct vm *fg, const char *trigger)
{
    char line[200];
    int n = snprintf(
        line, sizeof line, "\r\n[vigil] %s is now in the foreground (%s)%s\r\n", fg->name, trigger,
        fg->role == VIGIL_ROLE_SERVICE && hv->default_guest ? "; the guest is frozen" : "");
    if (hv->term_fd >= 0 && n > 0) {
        ssize_t w = write(hv->term_fd, line, (size_t)n);
        (void)w;
    }
}

/* Leaves `cur` (a guest) frozen.  Returns whether it had to be frozen. */
static int freeze_guest(struct hv *hv, struct vm *cur, bool *froze, uint64_t t0, char *err,
                        size_t errlen)
{
    *froze = false;
    if (!cur || cur->role == VIGIL_ROLE_SERVICE || get_state(cur, NULL) != VM_RUNNING)
        return 0;
    if (vm_park(cur, err, errlen) < 0)
        return -1;
    stats_add(&hv->freeze_latency, now_ns() - t0);
    set_state(cur, VM_FROZEN);
    *froze = true;
    return 0;
}

static int enter_guest(struct vm *target, uint64_t t0, char *err, size_t errlen)
{
    bool pending;
    enum vm_state s = get_state(target, &pending);
    if (pending || s == VM_HALTED || s == VM_CRASHED) {
        snprintf(err, errlen, "%s has stopped (%s): %s", target->name,
                 pending ? "stopping" : vm_state_name(s), target->stop_reason);
        return -1;
    }
    if (!snapshot_wait(target, 0)) {
        snprintf(err, errlen, "a snapshot of %s is being written; it runs again once that is done",
                 target->name);
        return -1;
    }
    if (s == VM_CREATED) {
        atomic_store(&target->vcpus[0].entry_stamp, t0);
        if (vm_start(target, err, errlen) < 0)
            return -1;
        hv_event(target->hv, SEL_OK, SEL_T_VM_BOOT, target, "booted by a switch");
        return 0;
    }
    if (s == VM_FROZEN) {
        if (vm_unpark(target, true, t0, err, errlen) < 0)
            return -1;
        set_state(target, VM_RUNNING);
    }
    return 0; /* RUNNING (devirtualized) or PAUSED: it stays as it is */
}

int hv_switch_to(struct hv *hv, struct vm *target, const char *trigger, uint64_t t0, char *err,
                 size_t errlen)
{
    if (!hv->service) {
        snprintf(err, errlen, "there is no service VM (devirtualized mode): nothing to switch");
        return -1;
    }
    pthread_mutex_lock(&hv->switch_lock);
    struct vm *cur = atomic_load(&hv->foreground);
    if (cur == target) {
        pthread_mutex_unlock(&hv->switch_lock);
        return 0;
    }
    bool froze;
    if (freeze_guest(hv, cur, &froze, t0, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    if (target->role != VIGIL_ROLE_SERVICE && enter_guest(target, t0, err, errlen) < 0) {
        if (froze) { /* undo: the old foreground runs on from where it was */
            char why[160];
            if (vm_unpark(cur, false, 0, why, sizeof why) == 0)
                set_state(cur, VM_RUNNING);
        }
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    atomic_store(&hv->foreground, target);
    atomic_fetch_add(&target->switches_in, 1);
    if (cur)
        atomic_fetch_add(&cur->switches_out, 1);
    if (target->role == VIGIL_ROLE_SERVICE) {
        /* The service VM already runs; time how soon its vCPU re-enters the guest. */
        if (atomic_exchange(&target->vcpus[0].entry_stamp, t0))
            atomic_fetch_add(&hv->entry_misses, 1);
        vcpu_kick(&target->vcpus[0]);
    }
    vm_raise_event(hv->service, VIGIL_EV_FOREGROUND);
    pthread_mutex_unlock(&hv->switch_lock);
    hv_event(hv, SEL_OK, SEL_T_VM_SWITCH, target, "switched to the foreground from %s (%s)%s",
             cur ? cur->name : "none", trigger, froze ? "; guest frozen" : "");
    announce(hv, target, trigger);
    return 0;
}

int hv_pause(struct hv *hv, struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&hv->switch_lock);
    int rc = -1;
    enum vm_state s = get_state(vm, NULL);
    if (s != VM_RUNNING)
        snprintf(err, errlen, "%s is %s, not running", vm->name, vm_state_name(s));
    else if ((rc = vm_park(vm, err, errlen)) == 0)
        set_state(vm, VM_PAUSED);
    pthread_mutex_unlock(&hv->switch_lock);
    if (rc == 0)
        hv_event(hv, SEL_OK, SEL_T_VM_PAUSE, vm, "paused by an operator");
    return rc;
}

int hv_resume(struct hv *hv, struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&hv->switch_lock);
    int rc = -1;
    enum vm_state s = get_state(vm, NULL);
    if (s != VM_PAUSED)
        snprintf(err, errlen, "%s is %s, not paused", vm->name, vm_state_name(s));
    else if (vm->role == VIGIL_ROLE_GUEST && hv->service && atomic_load(&hv->foreground) != vm)
        snprintf(err, errlen, "%s is not in the foreground: switch to it instead", vm->name);
    else if ((rc = vm_unpark(vm, true, 0, err, errlen)) == 0)
        set_state(vm, VM_RUNNING);
    pthread_mutex_unlock(&hv->switch_lock);
    if (rc == 0)
        hv_event(hv, SEL_OK, SEL_T_VM_RESUME, vm, "resumed by an operator");
    return rc;
}

int hv_boot(struct hv *hv, struct vm *vm, char *err, size_t errlen)
{
    enum vm_state s = get_state(vm, NULL);
    if (s == VM_CREATED && vm->role == VIGIL_ROLE_GUEST && hv->service)
        return hv_switch_to(hv, vm, "boot request", now_ns(), err, errlen);
    pthread_mutex_lock(&hv->switch_lock); /* a settle may be resetting it */
    int rc = -1;
    if ((s = get_state(vm, NULL)) != VM_CREATED)
        snprintf(err, errlen, "%s has already booted (it is %s)", vm->name, vm_state_name(s));
    else
        rc = vm_start(vm, err, errlen);
    pthread_mutex_unlock(&hv->switch_lock);
    return rc;
}

struct vm *hv_other_vm(struct hv *hv)
{
    struct vm *fg = atomic_load(&hv->foreground);
    return fg && fg->role == VIGIL_ROLE_SERVICE ? hv->default_guest : hv->service;
}

/* The service VM takes the foreground from a guest that can no longer have it. */
static void hand_to_service(struct hv *hv, struct vm *vm, const char *why)
{
    if (atomic_load(&hv->foreground) != vm || !hv->service || vm == hv->service)
        return;
    atomic_store(&hv->foreground, hv->service);
    atomic_fetch_add(&vm->switches_out, 1);
    atomic_fetch_add(&hv->service->switches_in, 1);
    vm_raise_event(hv->service, VIGIL_EV_FOREGROUND);
    hv_event(hv, SEL_OK, SEL_T_VM_SWITCH, hv->service, "switched to the foreground from %s (%s)",
             vm->name, why);
    announce(hv, hv->service, why);
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
        hand_to_service(hv, vm, "the guest could not be reset");
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
    if (!snapshot_wait(vm, 60000)) /* its RAM is the evidence until the core is written */
        hv_event(hv, SEL_WARNING, SEL_T_SNAPSHOT, vm,
                 "snapshot still being written; restarting anyway");
    if (vm_reset(vm, err, sizeof err) < 0 || vm_start(vm, err, sizeof err) < 0) {
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_RESET, vm, "service VM restart failed: %s", err);
        return;
    }
    atomic_fetch_add(&hv->service_restarts, 1);
    hv_event(hv, SEL_WARNING, SEL_T_VM_RESET, vm, "service VM restarted (restart %llu)",
             (unsigned long long)atomic_load(&hv->service_restarts));
}

static void settle(struct hv *hv, struct vm *vm)
{
    char err[200];
    if (vm_park(vm, err, sizeof err) < 0)
        log_warn("%s: %s", vm->name, err); /* the VM still stops; its state may be incomplete */
    else if (vm_wait_captured(vm, err, sizeof err) < 0)
        log_warn("%s", err);
    else if (vm->req == VMREQ_FREEZE)
        stats_add(&hv->trap_freeze, now_ns() - vm->req_ns); /* frozen with the state captured */
    pthread_mutex_lock(&vm->lock);
    enum vm_request req = vm->req;
    vm->state = req == VMREQ_RESET ? vm->state : vm->stop_state;
    vm->state_ns = now_ns();
    vm->stop_pending = false;
    pthread_mutex_unlock(&vm->lock);
    if (req == VMREQ_RESET) {
        settle_reset(hv, vm);
        return;
    }
    const struct vcpu *c = &vm->vcpus[vm_crashed_vcpu(vm)];
    const struct kvm_regs *r = &c->state.regs;
    if (vm->state == VM_CRASHED && c->evidence.lost)
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_CRASH, vm, "crashed: %s (vCPU %u: registers lost)",
                 vm->stop_reason, c->index);
    else if (vm->state == VM_CRASHED)
        hv_event(hv, SEL_CRITICAL, SEL_T_VM_CRASH, vm,
                 "crashed: %s (vCPU %u: rip 0x%llx rsp 0x%llx)", vm->stop_reason, c->index,
                 (unsigned long long)r->rip, (unsigned long long)r->rsp);
    else if (vm->state == VM_FROZEN)
        hv_event(hv, SEL_WARNING, SEL_T_TRAP, vm, "frozen: %s (rip 0x%llx)", vm->stop_reason,
                 (unsigned long long)r->rip);
    else
        hv_event(hv, vm->halt_status ? SEL_WARNING : SEL_OK, SEL_T_VM_HALT, vm, "%s",
                 vm->stop_reason);
    if (req == VMREQ_FREEZE) {
        char trigger[64];
        snprintf(trigger, sizeof trigger, "trap:%s",
                 vm->req_event >= 0 ? policy_event_name((enum policy_event)vm->req_event) : "?");
        if (snapshot_begin(hv, vm, trigger, vm->req_sel_id, err, sizeof err) < 0)
            hv_event(hv, SEL_WARNING, SEL_T_SNAPSHOT, vm, "no snapshot: %s", err);
    }
    if (vm == hv->service) {
        restart_service(hv, vm);
        return;
    }
    hand_to_service(hv, vm,
                    vm->state == VM_CRASHED  ? "the guest crashed"
                    : vm->state == VM_FROZEN ? "a trap froze the guest"
                                             : "the guest halted");
}

void hv_settle_stopped_vms(struct hv *hv)
{
    pthread_mutex_lock(&hv->switch_lock);
    for (uint32_t i = 0; i < hv->nvms; i++) {
        struct vm *vm = hv->vms[i];
        bool pending;
        get_state(vm, &pending);
        if (pending)
            settle(hv, vm);
    }
    pthread_mutex_unlock(&hv->switch_lock);
}
