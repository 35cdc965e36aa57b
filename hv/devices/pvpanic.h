/* pvpanic.h: QEMU's pvpanic device at port 0x505 and on PCI, through which a guest reports a panic.
 */
#ifndef HV_PVPANIC_H
#define HV_PVPANIC_H

#include "vmm/devices.h"

#define PVPANIC_PORT 0x505u
/* The PCI function's BAR 0 (a Linux VM's board): above RAM, below the I/O APIC. */
#define PVPANIC_PCI_BAR  0xfe000000u
#define PVPANIC_PCI_SIZE 0x10u

extern const struct dev_model pvpanic_device;
/* The same register as the PCI device QEMU calls pvpanic-pci (1b36:0011; Linux's
 * pvpanic-pci driver), at PVPANIC_PCI_BAR, and its configuration header for the host bridge. */
struct pci_func;
extern const struct dev_model pvpanic_pci_device;
extern const struct pci_func pvpanic_pci_func;

#endif
