/* trap.h: guest events meet the policy table: each event leads to its configured action. */
#ifndef HV_TRAP_H
#define HV_TRAP_H

#include "vmm/hv.h"

/* Records event `ev` for vm (SEL: the trap, then the action) and carries out the
 * policy's action.  `self` is the vCPU the event happened on (NULL when raised
 * from another thread: watchdog, operator).  Returns true when that vCPU may
 * continue; false when it must stop (it has been asked to park). */
bool trap_raise(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same for an event after which the vCPU cannot go on whatever the policy
 * (a fault report: its state is the faulting instruction's).  An action that
 * would continue it (log, notify, resume, nmi) is recorded and carried out,
 * then the VM is stopped as crashed, as after a triple fault. */
void trap_raise_fatal(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Whether an event leaves the guest unable to go on (its state after a freeze is crashed). */
bool trap_event_is_crash(enum policy_event ev);

/* What hv gives vmm (hv->hooks): events from vCPU exits and devices go to trap_raise. */
extern const struct vmm_hooks trap_vmm_hooks;

#endif
