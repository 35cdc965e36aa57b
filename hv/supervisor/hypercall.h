/* hypercall.h: hv's side of the hypercall ABI (include/vigil/hypercall.h). */
#ifndef HV_HYPERCALL_H
#define HV_HYPERCALL_H

#include "vmm/hv.h"

/* Handles hypercall `nr` whose argument structure is at guest-physical `gpa`.
 * A bad call gets a VIGIL_E* code in its `ret` (if `ret` is reachable) and
 * is logged; it never stops hv. */
void hypercall_dispatch(struct vcpu *v, unsigned nr, uint32_t gpa);
/* Counts and logs a malformed hypercall that has no argument to answer in. */
void hypercall_reject(struct vcpu *v, unsigned nr, const char *why);
/* The ports 0x700-0x71f as a device: a 32-bit OUT of the argument's address to base + nr. */
extern const struct dev_model hypercall_device;

#endif
