/* pci_host.h: a PCI host bridge with configuration mechanism 1 (ports 0xcf8-0xcff), bus 0 only. */
#ifndef HV_PCI_HOST_H
#define HV_PCI_HOST_H

#include "vmm/devices.h"

#include <stdint.h>

#define PCI_CONF_ADDR 0xcf8u
#define PCI_CONF_DATA 0xcfcu
#define PCI_MAX_FUNCS 4u

/* One function on bus 0 as its configuration header describes it (type 0, one memory BAR). */
struct pci_func {
    uint16_t vendor, device;
    uint8_t class_code, subclass, revision;
    uint32_t bar0, bar0_size; /* a 32-bit memory BAR: address and power-of-two size, or 0 */
};

/* The configuration spaces and the address register: what the guest reads and writes. */
struct pci_host {
    uint32_t addr; /* 0xcf8 */
    uint32_t nfuncs;
    uint8_t cfg[PCI_MAX_FUNCS][256];
    uint32_t bar0[PCI_MAX_FUNCS], bar0_size[PCI_MAX_FUNCS]; /* each function's fixed BAR 0 */
};

/* Bus 0: the host bridge at device 0, then funcs[i] at device i + 1 (at most
 * PCI_MAX_FUNCS - 1). */
void pci_host_init(struct pci_host *h, const struct pci_func *const *funcs, uint32_t n);
/* A port access at 0xcf8-0xcff of `size` bytes (1, 2, 4).  Absent devices read all ones; the
 * writable bits are the command register's and BAR 0's (sizing: all ones reads its size mask). */
uint32_t pci_host_read(struct pci_host *h, uint16_t port, uint32_t size);
void pci_host_write(struct pci_host *h, uint16_t port, uint32_t size, uint32_t value);

/* The bridge with the pvpanic PCI function behind it: a Linux VM's PCI bus. */
extern const struct dev_model pci_host_device;

#endif
