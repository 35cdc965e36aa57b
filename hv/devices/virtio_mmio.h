/* virtio_mmio.h: the virtio-mmio (version 2) register file over a transport-independent device. */
#ifndef HV_VIRTIO_MMIO_H
#define HV_VIRTIO_MMIO_H

#include "devices/virtio.h"

#include <stdbool.h>
#include <stdint.h>

/* Register offsets (spec 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC  0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4c474956u /* "VIGL" */
#define VIRTIO_MMIO_SIZE   0x200u      /* registers and config: one window per device */

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING  1u
#define VIRTIO_MMIO_INT_CONFIG 2u

struct virtio_mmio {
    struct virtio_dev *dev;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t interrupt_status;
    bool irq_level;
    /* The owner's interrupt line (KVM_IRQ_LINE, or an irqfd it raises on a rising edge). */
    void (*irq)(void *ctx, bool level);
    void *irq_ctx;
    /* Optional, set after init: every interrupt the device asks for (used buffers, config
     * change), even while the line is already high, with irq_ctx.  A driver that does not take
     * interrupts but sleeps until the device has news (hv's WAIT hypercall) needs each one. */
    void (*notify)(void *ctx);
};

/* Puts the register file in front of dev (and becomes dev's transport). */
void virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *dev,
                      void (*irq)(void *ctx, bool level), void *irq_ctx);
/* A guest access of `size` bytes at `offset` into the window.  Registers take aligned 32-bit
 * accesses, config space 1, 2, 4 or 8; anything else reads 0 and writes nothing.  A write
 * to QueueNotify runs the device; an owner that arms a KVM ioeventfd on
 * VIRTIO_MMIO_QUEUE_NOTIFY (4 bytes, datamatch = queue index) instead calls
 * virtio_queue_notify(dev, q) when it fires: the same effect, without the exit. */
uint64_t virtio_mmio_read(struct virtio_mmio *m, uint64_t offset, unsigned size);
void virtio_mmio_write(struct virtio_mmio *m, uint64_t offset, unsigned size, uint64_t value);

#endif
