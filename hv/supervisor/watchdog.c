/* watchdog.c: seed 001's periodic check: a guest that stops answering is caught within a period. */
#include "supervisor/watchdog.h"

#include "base/log.h"
#include "base/thread.h"
#include "supervisor/trap.h"
#include "vmm/platform.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define TICK_MAX_NS (5ull * 1000000ull) /* detection latency <= period + one tick */
#define TICK_MIN_NS (1ull * 1000000ull)

/* Per-guest memory between ticks. */
struct wd_guest {
    uint64_t hb_count;         /* heartbeats counted at the last tick */
    uint64_t sample_seq, hash; /* last progress sample */
    uint64_t same_since_ns;    /* first sample of an unchanged run, 0 if none */
    uint64_t exits;            /* vCPU 0 exits at that sample */
    bool fired_hb, fired_progress, fired_halt;
};

static struct wd_guest state[HV_MAX_VMS];

static void reset_guest(struct wd_guest *g)
{
    memset(g, 0, sizeof *g);
}

static void check_heartbeat(struct vm *vm, struct wd_guest *g, uint64_t now, uint64_t period)
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
        trap_raise(vm, NULL, POLICY_EV_WATCHDOG_HEARTBEAT,
                   "no heartbeat for %.3f ms (period %llu ms)", (double)(now - quiet_from) / 1e6,
                   (unsigned long long)(period / 1000000));
    }
}

static void check_progress(struct vm *vm, struct wd_guest *g, uint64_t now, uint64_t period)
{
    struct vcpu *v = &vm->vcpus[0];
    uint64_t seq = atomic_load(&v->sample_seq), exits = atomic_load(&v->exits);
    if (seq != g->sample_seq) {
        /* A fresh sample taken while the vCPU was in the guest. */
        g->sample_seq = seq;
        if (v->sample_halted_irqs_off && !g->fired_halt) {
            g->fired_halt = true;
            trap_raise(vm, NULL, POLICY_EV_HALTED_IRQS_OFF, "vCPU 0 halted with interrupts off");
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
        trap_raise(vm, NULL, POLICY_EV_WATCHDOG_PROGRESS, "vCPU 0 state unchanged for %llu ms",
                   (unsigned long long)((now - g->same_since_ns) / 1000000));
    }
    atomic_store(&v->sample_request, true);
    hv_platform(vm->hv)->kick(v); /* the vCPU samples itself when KVM_RUN returns */
}

static void *watchdog_main(void *arg)
{
    struct hv *hv = arg;
    for (uint32_t i = 0; i < hv->nvms; i++)
        reset_guest(&state[i]);
    while (!atomic_load(&hv->quit) && hv->watchdog_started) {
        struct policy_params pp;
        policy_get_params(&hv->policy, &pp);
        uint64_t period = (uint64_t)pp.watchdog_ms * 1000000ull;
        uint64_t tick = period ? period / 4 : 100ull * 1000000ull;
        tick = tick > TICK_MAX_NS ? TICK_MAX_NS : tick < TICK_MIN_NS ? TICK_MIN_NS : tick;
        struct timespec ts = {(time_t)(tick / 1000000000ull), (long)(tick % 1000000000ull)};
        nanosleep(&ts, NULL);
        uint64_t now = now_ns();
        for (uint32_t i = 0; i < hv->nvms; i++) {
            struct vm *vm = hv->vms[i];
            pthread_mutex_lock(&vm->lock);
            bool watch = period && hv->traps_armed && vm->role == VIGIL_ROLE_GUEST &&
                         vm->state == VM_RUNNING && !vm->stop_pending &&
                         vm->vcpus[0].thread_started;
            pthread_mutex_unlock(&vm->lock);
            if (!watch) {
                reset_guest(&state[i]);
                continue;
            }
            check_heartbeat(vm, &state[i], now, period);
            check_progress(vm, &state[i], now, period);
        }
    }
    return NULL;
}

int watchdog_start(struct hv *hv, char *err, size_t errlen)
{
    hv->watchdog_started = true;
    int rc = hv_thread_create(&hv->watchdog, watchdog_main, hv);
    if (rc) {
        hv->watchdog_started = false;
        snprintf(err, errlen, "cannot start the watchdog: %s", strerror(rc));
        return -1;
    }
    return 0;
}

void watchdog_stop(struct hv *hv)
{
    if (!hv->watchdog_started)
        return;
    hv->watchdog_started = false;
    pthread_join(hv->watchdog, NULL);
}
