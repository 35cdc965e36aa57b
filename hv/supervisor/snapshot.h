/* snapshot.h: crash snapshots of frozen VMs, written on a writer thread into the snapshot store. */
#ifndef HV_SNAPSHOT_H
#define HV_SNAPSHOT_H

#include "vmm/hv.h"

/* Starts writing a snapshot of `vm`, which must be parked (frozen, paused,
 * crashed, halted) and must stay so until the write ends (hv refuses to run it
 * meanwhile).  Returns 0 once the writer has started, with its job in hv->jobs
 * (*job_id, if not NULL), -1 with err otherwise.  The writer wakes the main loop
 * when it is done. */
int snapshot_begin(struct hv *hv, struct vm *vm, const char *trigger, uint64_t sel_id,
                   uint64_t *job_id, char *err, size_t errlen);

/* Whether a writer is reading vm's RAM now (the VM may not run, nor be reset). */
bool snapshot_busy(struct vm *vm);
/* Waits up to timeout_ms for vm's snapshot writers to be gone (its RAM free is not enough: a
 * writer still announces its snapshot); returns false if one is still there.  Blocks: for hv's
 * exit, never for the main loop while it serves. */
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
