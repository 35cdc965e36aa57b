/* uart_dev.h: COM1, the 16550A model as a device of a VM's table, on the VM's console. */
#ifndef HV_UART_DEV_H
#define HV_UART_DEV_H

#include "vmm/devices.h"

extern const struct dev_model uart_com1_device;

#endif
