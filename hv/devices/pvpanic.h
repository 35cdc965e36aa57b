/* pvpanic.h: QEMU's pvpanic device at port 0x505, through which a guest reports a panic. */
#ifndef HV_PVPANIC_H
#define HV_PVPANIC_H

#include "vmm/devices.h"

#define PVPANIC_PORT 0x505u

extern const struct dev_model pvpanic_device;

#endif
