/* virtio_net_mmio.h: a VM's virtio-net card on virtio-mmio, its host side chosen by --net. */
#ifndef HV_VIRTIO_NET_MMIO_H
#define HV_VIRTIO_NET_MMIO_H

#include "vmm/devices.h"

/* Where the card is: a window above any RAM the service VM gets (RAM may not reach it), as
 * Firecracker and QEMU's microvm also place virtio-mmio below 4 GiB; and a free ISA line. */
#define VNET_MMIO_BASE 0xd0000000ull
#define VNET_MMIO_IRQ  5u

/* Needs vm->cfg.nic (devices/nic.h) with a backend. */
extern const struct dev_model virtio_net_mmio_device;

#endif
