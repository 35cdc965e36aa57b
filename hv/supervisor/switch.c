/* switch.c: the atomic VM switch and the other foreground/run-state transitions, one at a time. */
#include "supervisor/switch.h"

#include "base/awriter.h"
#include "base/log.h"
#include "supervisor/events.h"
#include "supervisor/snapshot.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A vCPU waiting for switch_lock tries again this often: briefly at first (a switch holds it for
 * microseconds), then every millisecond (a park that waits for a stuck vCPU holds it longer). */
#define VCPU_LOCK_SPINS    50
#define VCPU_LOCK_SHORT_NS 20000L
#define VCPU_LOCK_LONG_NS  1000000L

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
    if (n <= 0) {
        return;
    } else if (hv->term_out) {
        awriter_write(hv->term_out, line, (size_t)n); /* a slow terminal delays nobody */
    } else if (hv->term_fd >= 0) {
        ssize_t w = write(hv->term_fd, line, (size_t)n);
        (void)w;
    }
}

static void write_note(struct hv *hv, const struct switch_note *n)
{
    if (n->target != hv->service && hv->service)
        vm_raise_event(hv->service, VIGIL_EV_FOREGROUND);
    hv_event(hv, SEL_OK, SEL_T_VM_SWITCH, n->target, "switched to the foreground from %s (%s)%s",
             n->from ? n->from->name : "none", n->trigger, n->froze ? "; guest frozen" : "");
    announce(hv, n->target, n->trigger);
}

void hv_switch_flush(struct hv *hv)
{
    for (uint32_t i = 0; i < hv->nnotes; i++)
        write_note(hv, &hv->notes[i]);
    hv->nnotes = 0;
}

/* The SEL record and the banner cost a write each (~0.2 ms and, with the terminal on a 9p
 * share, ~3 ms in the nested machine): on the loop thread they wait until the reply is sent,
 * as does telling the service VM that a guest took the foreground. */
static void note_switch(struct hv *hv, struct vm *target, struct vm *from, bool froze,
                        const char *trigger)
{
    struct switch_note n = {.target = target, .from = from, .froze = froze};
    snprintf(n.trigger, sizeof n.trigger, "%s", trigger);
    if (!hv->defer_notes || !pthread_equal(pthread_self(), hv->loop_thread)) {
        write_note(hv, &n);
        return;
    }
    if (hv->nnotes == HV_MAX_NOTES)
        hv_switch_flush(hv);
    hv->notes[hv->nnotes++] = n;
}

/* The service VM never stops, so it is not kicked: the foreground event below wakes it from a
 * WAIT, and a vCPU already in KVM_RUN is executing now.  Either way the switch's latency
 * sample is when its code runs again. */
static void stamp_service_entry(struct hv *hv, struct vcpu *v, uint64_t t0)
{
    if (atomic_exchange(&v->entry_stamp, t0))
        atomic_fetch_add(&hv->entry_misses, 1);
    /* Stamp first, then look: a thread entering KVM_RUN sets in_run before it takes the stamp,
     * so either it takes the stamp or we see in_run and take the stamp back ourselves. */
    if (atomic_load(&v->in_run) && atomic_exchange(&v->entry_stamp, 0) == t0)
        stats_add(&hv->switch_to_service, now_ns() - t0);
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
    if (snapshot_busy(target)) {
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

/* A service VM that stopped is restarted by the main loop (at once, or once its snapshot is
 * written): until then there is nothing to hand the machine to. */
static int service_ready(struct vm *svc, char *err, size_t errlen)
{
    bool pending;
    enum vm_state s = get_state(svc, &pending);
    if (!pending && s != VM_HALTED && s != VM_CRASHED)
        return 0;
    snprintf(err, errlen, "%s has stopped (%s); hv is restarting it", svc->name,
             pending ? "stopping" : vm_state_name(s));
    return -1;
}

/* The switch proper: the caller holds switch_lock, which this releases. */
static int switch_and_unlock(struct hv *hv, struct vm *target, const char *trigger, uint64_t t0,
                             char *err, size_t errlen)
{
    if (!hv->service) {
        pthread_mutex_unlock(&hv->switch_lock);
        snprintf(err, errlen, "there is no service VM (devirtualized mode): nothing to switch");
        return -1;
    }
    struct vm *cur = atomic_load(&hv->foreground);
    if (cur == target) {
        pthread_mutex_unlock(&hv->switch_lock);
        return 0;
    }
    if (target->role == VIGIL_ROLE_SERVICE && service_ready(target, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    bool froze;
    if (freeze_guest(hv, cur, &froze, t0, err, errlen) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    if (target->role != VIGIL_ROLE_SERVICE && enter_guest(target, t0, err, errlen) < 0) {
        if (froze) { /* undo: the old foreground runs on from where it was */
            char why[160];
            /* (unless a requested snapshot holds it: it runs on once that is written) */
            if (cur->snapshot_hold || vm_unpark(cur, false, 0, why, sizeof why) == 0)
                set_state(cur, VM_RUNNING);
        }
        pthread_mutex_unlock(&hv->switch_lock);
        return -1;
    }
    atomic_store(&hv->foreground, target);
    atomic_fetch_add(&target->switches_in, 1);
    if (cur)
        atomic_fetch_add(&cur->switches_out, 1);
    /* The foreground event wakes the service VM: now when it is the target, else with the
     * switch's note (after the reply), so that it does not compete with the requester. */
    if (target->role == VIGIL_ROLE_SERVICE) {
        stamp_service_entry(hv, &target->vcpus[0], t0);
        vm_raise_event(hv->service, VIGIL_EV_FOREGROUND);
    }
    pthread_mutex_unlock(&hv->switch_lock);
    note_switch(hv, target, cur, froze, trigger);
    return 0;
}

int hv_switch_to(struct hv *hv, struct vm *target, const char *trigger, uint64_t t0, char *err,
                 size_t errlen)
{
    pthread_mutex_lock(&hv->switch_lock);
    return switch_and_unlock(hv, target, trigger, t0, err, errlen);
}

int hv_switch_from_vcpu(struct hv *hv, struct vcpu *self, struct vm *target, const char *trigger,
                        uint64_t t0, char *err, size_t errlen)
{
    /* Whoever holds switch_lock may be waiting for this very vCPU to park or exit (a pause or a
     * detach of its VM): wait for the lock only while hv asks nothing of the vCPU.  A try and a
     * short sleep, not a timed lock: the sanitizers know these calls. */
    for (unsigned tries = 0; pthread_mutex_trylock(&hv->switch_lock) != 0; tries++) {
        if (atomic_load(&self->request) != VCPU_REQ_NONE) {
            snprintf(err, errlen, "hv is stopping %s", self->vm->name);
            return -1;
        }
        struct timespec ts = {0, tries < VCPU_LOCK_SPINS ? VCPU_LOCK_SHORT_NS : VCPU_LOCK_LONG_NS};
        nanosleep(&ts, NULL);
    }
    return switch_and_unlock(hv, target, trigger, t0, err, errlen);
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
    else if (snapshot_busy(vm))
        snprintf(err, errlen, "a snapshot of %s is being written; it runs again once that is done",
                 vm->name);
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
void hv_hand_to_service(struct hv *hv, struct vm *vm, const char *why)
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
        if (get_state(vm, NULL) == VM_RUNNING && vm_unpark(vm, false, 0, err, sizeof err) < 0)
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
        bool pending;
        get_state(vm, &pending);
        if (pending)
            settle(hv, vm);
    }
    for (uint32_t i = 0; i < hv->nvms; i++)
        settle_deferred(hv, hv->vms[i]);
    pthread_mutex_unlock(&hv->switch_lock);
}
