/* events.h: one call records a system event in the SEL and in hv's log. */
#ifndef HV_EVENTS_H
#define HV_EVENTS_H

#include "bmc/sel.h"
#include "vmm/hv.h"

/* Appends to the system event log (when open) and logs it; returns the SEL id (0 if none). */
uint64_t hv_event(struct hv *hv, enum sel_severity sev, enum sel_type type, const struct vm *vm,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
