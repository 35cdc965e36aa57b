/* switch.h: the VM switch (seeds 001, 002), pause/resume and boot, the foreground. */
#ifndef HV_SWITCH_H
#define HV_SWITCH_H

#include "vmm/hv.h"

#include <stddef.h>

/* Makes `target` the foreground VM.  Guest -> service freezes the guest with
 * its state in the control structure; service -> guest resumes it from
 * exactly that state (or boots it, the first time).  Atomic: on failure both
 * VMs are as they were and err says why.  t0 is the trigger time
 * (CLOCK_MONOTONIC ns) for the latency statistics. */
int hv_switch_to(struct hv *hv, struct vm *target, const char *trigger, uint64_t t0, char *err,
                 size_t errlen);
/* The same, asked by the vCPU `self` (the service VM's SWITCH hypercall): it gives up, rather
 * than wait for switch_lock, when hv asks the vCPU to park or exit meanwhile. */
int hv_switch_from_vcpu(struct hv *hv, struct vcpu *self, struct vm *target, const char *trigger,
                        uint64_t t0, char *err, size_t errlen);

/* Writes the SEL records and terminal banners of the switches made on the main loop's thread
 * since the last call (they wait until the requester has its answer); that thread only. */
void hv_switch_flush(struct hv *hv);

/* Stops a running VM without changing the foreground, and lets it go on. */
int hv_pause(struct hv *hv, struct vm *vm, char *err, size_t errlen);
int hv_resume(struct hv *hv, struct vm *vm, char *err, size_t errlen);

/* Boots a VM that has never run; a guest boots by a switch to it. */
int hv_boot(struct hv *hv, struct vm *vm, char *err, size_t errlen);

/* The service VM takes the foreground from `vm`, which can no longer have it (it stopped); nothing
 * if `vm` is not the foreground.  The caller holds switch_lock. */
void hv_hand_to_service(struct hv *hv, struct vm *vm, const char *why);

/* The VM the hotkey's "switch" goes to from the current foreground. */
struct vm *hv_other_vm(struct hv *hv);

#endif
