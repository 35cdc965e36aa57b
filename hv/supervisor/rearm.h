/* rearm.h: moving every guest's traps (memslots, MSR filter) from one policy to another. */
#ifndef HV_REARM_H
#define HV_REARM_H

#include "vmm/hv.h"

/* Moves every guest's memslots and MSR filter from the traps of `from` to those of `to` (NULL:
 * none, devirtualized), parking a running guest for the moment it takes.  All or nothing: if
 * KVM refuses for one guest, every guest goes back to `from` and err says why.  Call with
 * switch_lock held. */
int traps_rearm_guests(struct hv *hv, const struct policy_params *from,
                       const struct policy_params *to, char *err, size_t errlen);

#endif
