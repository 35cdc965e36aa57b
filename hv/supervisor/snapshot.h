/* snapshot.h: crash snapshots of frozen VMs, written on a writer thread into the snapshot store. */
#ifndef HV_SNAPSHOT_H
#define HV_SNAPSHOT_H

#include "vmm/hv.h"

/* Starts writing a snapshot of `vm`, which must be parked (frozen, paused,
 * crashed, halted) and must stay so until the write ends (hv refuses to run it
 * meanwhile).  Returns 0 once the writer has started, -1 with err otherwise. */
int snapshot_begin(struct hv *hv, struct vm *vm, const char *trigger, uint64_t sel_id, char *err,
                   size_t errlen);

/* Waits up to timeout_ms for vm's snapshot writer; returns false if still busy. */
bool snapshot_wait(struct vm *vm, int timeout_ms);

/* The exception and interrupt state of the crashed vCPU's control structure (vCPU 0's
 * when no vCPU has fault evidence), as JSON. */
json_t *snapshot_exception_json(const struct vm *vm);
/* Where the snapshot's registers come from, as top-level metadata members:
 * registers_lost (+ registers_lost_reason), registers_from ("vcpu" or
 * "fault_report"), registers_vcpu, and for a fault report "fault" (vector,
 * name, error_code, cr2). */
json_t *snapshot_evidence_json(const struct vm *vm);

#endif
