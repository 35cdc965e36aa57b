/* watchdog.c: seed 001's periodic check: a guest that stops answering is caught within a period. */
#include "supervisor/watchdog.h"

#include "base/log.h"
#include "base/thread.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TICK_MAX_NS (5ull * 1000000ull) /* detection latency <= period + one tick */
#define TICK_MIN_NS (1ull * 1000000ull)

static void reset_watch(struct vm_watch *g)
{
    memset(g, 0, sizeof *g);
}

/* The alarms a tick found (a heartbeat's, a progress one's), raised once the VM's lock is
 * dropped: trap_raise takes it. */
struct alarms {
    unsigned n;
    struct {
        enum policy_event ev;
        char detail[96];
    } a[2];
};

static void add_alarm(struct alarms *al, enum policy_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_alarm(struct alarms *al, enum policy_event ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(al->a[al->n].detail, sizeof al->a[al->n].detail, fmt, ap);
    va_end(ap);
    al->a[al->n++].ev = ev; /* at most one from each check */
}

/* Caller holds vm->lock. */
static void check_heartbeat(struct vm *vm, struct vm_watch *g, uint64_t now, uint64_t period,
                            struct alarms *al)
{
    uint64_t hb = atomic_load(&vm->heartbeats);
    uint64_t since = vm->running_since_ns; /* time spent frozen is not silence */
    if (hb != g->hb_count) {
        g->hb_count = hb;
        g->fired_hb = false;
    }
    /* Measured from the heartbeat itself, not from when this thread noticed it. */
    uint64_t last = atomic_load(&vm->last_heartbeat_ns);
    uint64_t quiet_from = last > since ? last : since;
    if (!g->fired_hb && now > quiet_from && now - quiet_from > period) {
        g->fired_hb = true;
        add_alarm(al, POLICY_EV_WATCHDOG_HEARTBEAT, "no heartbeat for %.3f ms (period %llu ms)",
                  (double)(now - quiet_from) / 1e6, (unsigned long long)(period / 1000000));
    }
}

/* Caller holds vm->lock, so vCPU 0's thread is not joined while it is kicked. */
static void check_progress(struct vm *vm, struct vm_watch *g, uint64_t now, uint64_t period,
                           struct alarms *al)
{
    struct vcpu *v = &vm->vcpus[0];
    uint64_t seq = atomic_load(&v->sample_seq), exits = atomic_load(&v->exits);
    if (seq != g->sample_seq) {
        /* A fresh sample taken while the vCPU was in the guest. */
        g->sample_seq = seq;
        if (v->sample_halted_irqs_off && !g->fired_halt) {
            g->fired_halt = true;
            add_alarm(al, POLICY_EV_HALTED_IRQS_OFF, "vCPU 0 halted with interrupts off");
            return;
        }
        if (v->sample_hash == g->hash && exits == g->exits) {
            if (!g->same_since_ns)
                g->same_since_ns = now;
        } else {
            g->same_since_ns = 0;
            g->fired_progress = false;
            g->fired_halt = false;
        }
        g->hash = v->sample_hash;
        g->exits = exits;
    } else if (atomic_load(&v->sample_request)) {
        /* Not taken: the vCPU sits in a hypercall (WAIT), which is idle, not stuck. */
        g->same_since_ns = 0;
    }
    if (g->same_since_ns && !g->fired_progress && now - g->same_since_ns >= period) {
        g->fired_progress = true;
        add_alarm(al, POLICY_EV_WATCHDOG_PROGRESS, "vCPU 0 state unchanged for %llu ms",
                  (unsigned long long)((now - g->same_since_ns) / 1000000));
    }
    atomic_store(&v->sample_request, true);
    vcpu_kick_locked(v); /* the vCPU samples itself when KVM_RUN returns */
}

/* Under switch_lock no reset or switch can come between the check and the trap; run_ns tells
 * whether the VM still runs the run the alarms are about (the main loop may have reset, frozen
 * or resumed it since the tick). */
static void raise_alarms(struct hv *hv, struct vm *vm, uint64_t run_ns, const struct alarms *al)
{
    pthread_mutex_lock(&hv->switch_lock);
    for (unsigned i = 0; i < al->n; i++) {
        pthread_mutex_lock(&vm->lock);
        bool same = vm->running_since_ns == run_ns && vm->state == VM_RUNNING && !vm->stop_pending;
        pthread_mutex_unlock(&vm->lock);
        if (same) {
            atomic_fetch_add(&hv->watchdog_firings, 1);
            trap_raise(vm, NULL, al->a[i].ev, "%s", al->a[i].detail);
        }
    }
    pthread_mutex_unlock(&hv->switch_lock);
}

static void watch_vm(struct hv *hv, struct vm *vm, uint64_t now, uint64_t period)
{
    struct vm_watch *g = &vm->watch;
    struct alarms al = {0};
    pthread_mutex_lock(&vm->lock);
    /* Parked vCPUs (a switch, a snapshot being written, a settle) are not a silent guest. */
    bool watch = period && atomic_load(&hv->traps_armed) && vm->role == VIGIL_ROLE_GUEST &&
                 vm->state == VM_RUNNING && !vm->stop_pending && !vm->snapshot_busy &&
                 vm->vcpus[0].thread_started && !vm->vcpus[0].parked;
    uint64_t run_ns = vm->running_since_ns;
    if (watch && g->run_ns != run_ns) {
        /* A boot or a resume since the last tick (it may have come and gone between two ticks,
         * above all while this thread waited for switch_lock): a fresh start. */
        reset_watch(g);
        g->run_ns = run_ns;
    }
    if (watch) {
        if (!vm->cfg.kernel) /* Linux makes no HEARTBEAT hypercalls: progress only */
            check_heartbeat(vm, g, now, period, &al);
        check_progress(vm, g, now, period, &al);
    }
    pthread_mutex_unlock(&vm->lock);
    if (!watch)
        reset_watch(g);
    else if (al.n)
        raise_alarms(hv, vm, run_ns, &al);
}

static void *watchdog_main(void *arg)
{
    struct hv *hv = arg;
    while (!atomic_load(&hv->quit) && atomic_load(&hv->watchdog_started)) {
        struct policy_params pp;
        policy_get_params(&hv->policy, &pp);
        uint64_t period = (uint64_t)pp.watchdog_ms * 1000000ull;
        uint64_t tick = period / 4;
        tick = tick > TICK_MAX_NS ? TICK_MAX_NS : tick < TICK_MIN_NS ? TICK_MIN_NS : tick;
        if (!period)
            tick = 100ull * 1000000ull; /* off: only notice a policy that turns it on */
        struct timespec ts = {(time_t)(tick / 1000000000ull), (long)(tick % 1000000000ull)};
        nanosleep(&ts, NULL);
        uint64_t now = now_ns();
        /* The list as it is now: an attach or a detach changes it under switch_lock.  The VMs
         * themselves stay allocated until hv exits (a detached service VM is kept as a spare). */
        struct vm *vms[HV_MAX_VMS];
        pthread_mutex_lock(&hv->switch_lock);
        uint32_t n = hv->nvms;
        memcpy(vms, hv->vms, n * sizeof vms[0]);
        pthread_mutex_unlock(&hv->switch_lock);
        for (uint32_t i = 0; i < n; i++)
            watch_vm(hv, vms[i], now, period);
    }
    return NULL;
}

int watchdog_start(struct hv *hv, char *err, size_t errlen)
{
    atomic_store(&hv->watchdog_started, true);
    int rc = hv_thread_create(&hv->watchdog, watchdog_main, hv);
    if (rc) {
        atomic_store(&hv->watchdog_started, false);
        snprintf(err, errlen, "cannot start the watchdog: %s", strerror(rc));
        return -1;
    }
    return 0;
}

void watchdog_stop(struct hv *hv)
{
    if (!atomic_exchange(&hv->watchdog_started, false))
        return;
    pthread_join(hv->watchdog, NULL);
}
