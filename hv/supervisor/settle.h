/* settle.h: the main loop's settling of VMs that halted, crashed or froze. */
#ifndef HV_SETTLE_H
#define HV_SETTLE_H

#include "vmm/hv.h"

/* Main loop: records VMs that halted or crashed since the last call, and
 * moves the foreground to the service VM if the foreground guest stopped; then
 * finishes what waited for a snapshot writer that has ended (a requested
 * snapshot's VM runs on; a reset, a service VM restart).  Never waits for one. */
void hv_settle_stopped_vms(struct hv *hv);

#endif
