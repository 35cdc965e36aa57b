/* trap.c: carries out the policy's action for a guest event, and records both in the SEL. */
#include "supervisor/trap.h"
#include "supervisor/gdbstub.h"

#include "supervisor/events.h"
#include "vmm/vm.h"

#include <stdarg.h>
#include <stdio.h>

bool trap_event_is_crash(enum policy_event ev)
{
    switch (ev) {
    case POLICY_EV_TRIPLE_FAULT:
    case POLICY_EV_INTERNAL_ERROR:
    case POLICY_EV_PVPANIC:
    case POLICY_EV_GUEST_PANIC:
    case POLICY_EV_HALTED_IRQS_OFF:
        return true;
    default:
        return false;
    }
}

/* The vCPU cannot execute another instruction after these. */
static bool cannot_continue(enum policy_event ev)
{
    return ev == POLICY_EV_TRIPLE_FAULT || ev == POLICY_EV_INTERNAL_ERROR;
}

static bool trap_vraise(struct vm *vm, struct vcpu *self, enum policy_event ev, bool fatal,
                        const char *fmt, va_list ap)
{
    struct hv *hv = vm->hv;
    char detail[160];
    vsnprintf(detail, sizeof detail, fmt, ap);
    /* Devirtualized (no service VM, traps disarmed): hv only records what happens. */
    enum policy_action act =
        atomic_load(&hv->traps_armed) ? policy_action_for(&hv->policy, ev) : POLICY_ACT_LOG;
    /* The policy guards guests.  A crash of the service VM is contained instead:
     * hv keeps its evidence and boots it again (the settle step restarts it). */
    if (vm->role == VIGIL_ROLE_SERVICE)
        act = trap_event_is_crash(ev) ? POLICY_ACT_FREEZE : POLICY_ACT_LOG;
    bool crash = trap_event_is_crash(ev);
    if ((unsigned)ev < POLICY_EV_COUNT)
        atomic_fetch_add(&hv->traps_raised[ev], 1);
    uint64_t sel_id = hv_event(
        hv, crash ? SEL_CRITICAL : SEL_WARNING,
        ev == POLICY_EV_WATCHDOG_HEARTBEAT || ev == POLICY_EV_WATCHDOG_PROGRESS ? SEL_T_WATCHDOG
                                                                                : SEL_T_TRAP,
        vm, "trap %s: %s", policy_event_name(ev), detail);
    hv_event(hv, SEL_OK, SEL_T_ACTION, vm, "action %s for %s (SEL %llu)", policy_action_name(act),
             policy_event_name(ev), (unsigned long long)sel_id);
    enum vm_state result = crash ? VM_CRASHED : VM_FROZEN;
    switch (act) {
    case POLICY_ACT_FREEZE:
        vm_request(vm, self, VMREQ_FREEZE, result, (int)ev, sel_id, 0, "%s: %s",
                   policy_event_name(ev), detail);
        return false;
    case POLICY_ACT_RESET:
        vm_request(vm, self, VMREQ_RESET, VM_CREATED, (int)ev, sel_id, 0, "%s: %s",
                   policy_event_name(ev), detail);
        return false;
    case POLICY_ACT_NOTIFY: {
        struct vm *svc = atomic_load(&hv->service); /* one load: a detach may clear it */
        if (svc && svc != vm)
            vm_raise_event(svc, VIGIL_EV_NOTIFY);
        break;
    }
    case POLICY_ACT_NMI:
        atomic_store(&vm->nmi_pending, true);
        if (self)
            vcpu_deliver_nmi(self);
        else
            vcpu_kick(&vm->vcpus[0]); /* vCPU 0 delivers it on its own thread */
        break;
    case POLICY_ACT_LOG:
    case POLICY_ACT_RESUME:
    case POLICY_ACT_COUNT:
        break;
    }
    if (fatal || cannot_continue(ev)) {
        vm_request(vm, self, VMREQ_STOP, VM_CRASHED, (int)ev, sel_id, 0, "%s: %s",
                   policy_event_name(ev), detail);
        return false;
    }
    return true;
}

bool trap_raise(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool go_on = trap_vraise(vm, self, ev, false, fmt, ap);
    va_end(ap);
    return go_on;
}

void trap_raise_fatal(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    trap_vraise(vm, self, ev, true, fmt, ap);
    va_end(ap);
}

/* vmm's events (vCPU exits, devices) reach the policy through this. */
static bool trap_hook(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *detail)
{
    return trap_raise(vm, self, ev, "%s", detail);
}

const struct vmm_hooks trap_vmm_hooks = {
    .trap = trap_hook, .device_error = events_device_error, .debug_exit = gdbstub_debug_exit};
