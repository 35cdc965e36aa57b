/* board.h: the machine hv builds: the devices every VM gets, hence the ports policy keeps off. */
#ifndef HV_BOARD_H
#define HV_BOARD_H

#include "vmm/hv.h"

/* Gives a VM about to be created the board's devices (vm_create attaches them): a card when
 * cfg->nic names a network; the service VM's is user mode, restricted, unless cfg->nic says. */
void board_devices(struct vm_config *cfg);
/* The port ranges of those devices, named by device, for policy_init_defaults; at most max.
 * Returns how many there are (more than max if they did not fit). */
uint32_t board_reserved_ports(struct policy_port_owner *out, uint32_t max);

#endif
