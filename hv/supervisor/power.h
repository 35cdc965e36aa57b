/* power.h: an operator's reset, power-off, power-on and NMI of a VM (control ops vm.reset, ...). */
#ifndef HV_POWER_H
#define HV_POWER_H

#include "vmm/hv.h"

#include <stdbool.h>
#include <stddef.h>

/* Reboots `vm` from its image.  A guest is rebuilt at once (its captured evidence stays in the
 * snapshot store); it boots again if it was the foreground (or there is no service VM), else it
 * is left `created` and boots at the next switch to it.  The service VM is restarted by hv's
 * own restart path on the main loop, after the caller has its answer: *pending is then true.
 * -1 with err if the VM is stopping or a snapshot writer still reads its RAM. */
int hv_vm_reset(struct hv *hv, struct vm *vm, bool *pending, char *err, size_t errlen);

/* Stops a guest for good: state `halted`, stop reason "powered off by an operator"; its RAM
 * and registers stay for evidence until it is powered on.  A foreground guest hands the
 * foreground to the service VM.  The service VM cannot be powered off (-1). */
int hv_vm_poweroff(struct hv *hv, struct vm *vm, char *err, size_t errlen);

/* Boots a guest that is off (halted, crashed, or never booted) afresh from its image and makes
 * it the foreground, as a switch to it does.  -1 for a guest that is on, or the service VM. */
int hv_vm_poweron(struct hv *hv, struct vm *vm, char *err, size_t errlen);

/* Injects an NMI into a running VM's vCPU 0.  What follows is the guest's own NMI handler's
 * decision (hv's guests report it as a diagnostic exception, which the policy then sees as a
 * guest_panic).  -1 unless the VM is running. */
int hv_vm_nmi(struct hv *hv, struct vm *vm, char *err, size_t errlen);

#endif
