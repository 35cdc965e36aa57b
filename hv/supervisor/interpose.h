/* interpose.h: seed 003: attach the service VM and traps to a running guest, and detach them again.
 */
#ifndef HV_INTERPOSE_H
#define HV_INTERPOSE_H

#include "vmm/hv.h"

/* Boots a service VM beside a guest that runs alone and arms the policy's
 * traps, without stopping the guest for more than a park (microseconds).
 * image NULL: the one given with --service-image.  mem_mib 0: 64 MiB. */
int interpose_attach(struct hv *hv, const char *image, uint64_t mem_mib, char *err, size_t errlen);

/* Stops the service VM, returns its memory to the host and disarms the
 * traps; the guest keeps running, alone again (devirtualized). */
int interpose_detach(struct hv *hv, char *err, size_t errlen);

#endif
