/* snapshot.h: crash snapshots of frozen VMs, written on a writer thread into the snapshot store. */
#ifndef HV_SNAPSHOT_H
#define HV_SNAPSHOT_H

#include "hv.h"

/* Starts writing a snapshot of `vm`, which must be parked (frozen, paused,
 * crashed, halted) and must stay so until the write ends (hv refuses to run it
 * meanwhile).  Returns 0 once the writer has started, -1 with err otherwise. */
int snapshot_begin(struct hv *hv, struct vm *vm, const char *trigger, uint64_t sel_id, char *err,
                   size_t errlen);

/* Waits up to timeout_ms for vm's snapshot writer; returns false if still busy. */
bool snapshot_wait(struct vm *vm, int timeout_ms);

/* The exception and interrupt state of vCPU 0's control structure, as JSON. */
json_t *snapshot_exception_json(const struct vm *vm);

#endif
