/* switch.c: the atomic VM switch and the other foreground/run-state transitions, one at a time. */
#include "supervisor/switch.h"

#include "base/awriter.h"
#include "base/log.h"
#include "supervisor/events.h"
#include "supervisor/snapshot.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"

#include <stdio.h>
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
