/* rearm.c: a policy change or an attach/detach reaches every guest's memslots and MSR filter. */
#include "supervisor/rearm.h"

#include "base/log.h"
#include "supervisor/events.h"
#include "vmm/vm.h"

/* Arms one guest for pp, parked for the moment it takes if it runs. */
static int rearm_guest(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen)
{
    /* A requested snapshot's hold keeps it parked: the main loop lets it go on after. */
    bool running = vm_get_state(vm) == VM_RUNNING && !vm->snapshot_hold;
    if (running && vm_park(vm, err, errlen) < 0)
        return -1;
    int rc =
        vm_arm_protection(vm, pp, err, errlen) < 0 || vm_arm_msr_filter(vm, pp, err, errlen) < 0
            ? -1
            : 0;
    /* The control structure is untouched: the guest goes on exactly where it was, unless
     * KVM could not map its RAM at all; then it must not run (it stays parked). */
    if (running && vm->nslots) {
        char why[160];
        vm_unpark(vm, false, 0, why, sizeof why);
    } else if (running) {
        hv_event(vm->hv, SEL_CRITICAL, SEL_T_POLICY_CHANGE, vm,
                 "left stopped: its RAM could not be mapped again");
    }
    return rc;
}

int traps_rearm_guests(struct hv *hv, const struct policy_params *from,
                       const struct policy_params *to, char *err, size_t errlen)
{
    const struct policy_params none = {0};
    from = from ? from : &none;
    to = to ? to : &none;
    uint32_t i = 0;
    for (; i < hv->nvms; i++) {
        struct vm *vm = hv->vms[i];
        if (vm->role == VIGIL_ROLE_GUEST && vm->mem && rearm_guest(vm, to, err, errlen) < 0)
            break;
    }
    if (i == hv->nvms)
        return 0;
    /* All or nothing: the guests done so far, and the one that failed, go back to `from`. */
    for (uint32_t j = 0; j <= i; j++) {
        struct vm *vm = hv->vms[j];
        char why[256];
        if (vm->role == VIGIL_ROLE_GUEST && vm->mem && rearm_guest(vm, from, why, sizeof why) < 0)
            log_warn("%s: cannot restore its traps: %s", vm->name, why);
    }
    return -1;
}
