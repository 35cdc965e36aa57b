/* watchdog.h: polls running guests for heartbeats, progress and a halt with interrupts off. */
#ifndef HV_WATCHDOG_H
#define HV_WATCHDOG_H

#include "vmm/hv.h"

/* Starts the watchdog thread; it reads the period from the policy on every
 * tick, so `policy set` takes effect at once (0 = off). */
int watchdog_start(struct hv *hv, char *err, size_t errlen);
void watchdog_stop(struct hv *hv);

#endif
