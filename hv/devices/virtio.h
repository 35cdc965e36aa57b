/* virtio.h: the transport-independent part of a virtio 1.x device: status, features, queues. */
#ifndef HV_VIRTIO_H
#define HV_VIRTIO_H

#include "devices/guest_mem.h"
#include "devices/virtqueue.h"

#include <stdbool.h>
#include <stdint.h>

/* Device status bits (spec 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* Feature bits common to all devices (spec 6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32
#define VIRTIO_BIT(f)          (1ull << (f))

#define VIRTIO_QUEUES_MAX 4  /* enough for net's rx + tx (+ a control queue later) */
#define VIRTIO_CONFIG_MAX 64 /* bytes of device-specific config space */

struct virtio_dev;

/* What a device model supplies. */
struct virtio_dev_ops {
    /* The driver made buffers available on queue q.  true if the model stopped with work
     * left (its per-call budget): the owner calls virtio_queue_notify again later. */
    bool (*queue_notify)(struct virtio_dev *d, unsigned q);
    /* The driver writes config bytes [off, off + len), inside config_size (optional: a
     * read-only config space ignores writes). */
    void (*config_write)(struct virtio_dev *d, unsigned off, const void *buf, unsigned len);
    /* The driver reset the device: back to power-on state (optional). */
    void (*reset)(struct virtio_dev *d);
};

/* What a transport supplies: how the device reaches the driver. */
struct virtio_transport_ops {
    void (*used_notify)(void *ctx, unsigned q); /* used buffer notification */
    void (*config_notify)(void *ctx);           /* configuration change notification */
};

struct virtio_dev {
    const char *name; /* "virtio-net": prefixes error reasons */
    uint32_t device_id;
    uint64_t device_features; /* offered */
    uint64_t driver_features; /* written by the driver; in force from FEATURES_OK */
    uint8_t status;
    uint32_t config_generation;
    uint8_t config[VIRTIO_CONFIG_MAX];
    unsigned config_size;
    unsigned num_queues;
    uint16_t queue_max; /* largest queue size offered */
    struct virtqueue vq[VIRTIO_QUEUES_MAX];
    uint32_t more_work; /* bit q: queue q's last notify stopped with work left */
    struct guest_mem mem;

    const struct virtio_dev_ops *ops;
    const struct virtio_transport_ops *transport;
    void *transport_ctx;
    /* Called once when the device enters NEEDS_RESET: the owner records it (an SEL entry). */
    void (*on_error)(void *ctx, const char *reason);
    void *error_ctx;
    char error[VQ_ERR_LEN + 64]; /* the first reason since the last reset */
};

/* Sets up a device in reset state. */
void virtio_init(struct virtio_dev *d, const char *name, uint32_t device_id, uint64_t features,
                 unsigned num_queues, uint16_t queue_max, const struct virtio_dev_ops *ops,
                 const struct guest_mem *mem);
void virtio_set_transport(struct virtio_dev *d, const struct virtio_transport_ops *ops, void *ctx);
void virtio_set_error_handler(struct virtio_dev *d, void (*fn)(void *, const char *), void *ctx);
/* Guest RAM moved (the VM was rebuilt): the device is reset too. */
void virtio_set_mem(struct virtio_dev *d, const struct guest_mem *mem);

/* The driver's side, as every transport presents it. */
uint32_t virtio_device_features(const struct virtio_dev *d, unsigned word);
void virtio_set_driver_features(struct virtio_dev *d, unsigned word, uint32_t value);
uint32_t virtio_driver_features(const struct virtio_dev *d, unsigned word);
/* Status writes: 0 resets; FEATURES_OK sticks only for an acceptable feature set;
 * DRIVER_OK starts the device.  Bits the driver sets are never cleared but by a reset. */
void virtio_set_status(struct virtio_dev *d, uint8_t status);
void virtio_reset(struct virtio_dev *d);
/* Makes queue q live with the layout in d->vq[q]; an invalid layout puts the device in
 * NEEDS_RESET.  Clearing ready stops the queue. */
void virtio_queue_set_ready(struct virtio_dev *d, unsigned q, bool ready);
/* The driver notified queue q (an MMIO/PCI write or a KVM ioeventfd): runs the device model
 * if the device is live.  Returns the model's "work left" (see queue_notify). */
bool virtio_queue_notify(struct virtio_dev *d, unsigned q);

/* For device models. */
bool virtio_has_feature(const struct virtio_dev *d, unsigned bit);
/* The device runs: DRIVER_OK, not NEEDS_RESET or FAILED. */
bool virtio_live(const struct virtio_dev *d);
/* Interrupts the driver for queue q if its suppression settings ask for it. */
void virtio_queue_interrupt(struct virtio_dev *d, unsigned q);
/* The model changed d->config: new generation and a config change notification. */
void virtio_config_changed(struct virtio_dev *d);
/* The driver broke the rules: NEEDS_RESET, the reason to on_error, and the driver told. */
void virtio_fail(struct virtio_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
