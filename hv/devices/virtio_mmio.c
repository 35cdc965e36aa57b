/* virtio_mmio.c: virtio-mmio version 2 registers mapped onto the device core; the guest picks
 * every offset, width and value, so each is checked before it reaches the device. */
#include "devices/virtio_mmio.h"

#include <string.h>

static void update_irq(struct virtio_mmio *m)
{
    bool level = m->interrupt_status != 0;
    if (level != m->irq_level) {
        m->irq_level = level;
        if (m->irq)
            m->irq(m->irq_ctx, level);
    }
}

static void mmio_used_notify(void *ctx, unsigned q)
{
    (void)q; /* one interrupt for all queues: the driver scans them */
    struct virtio_mmio *m = ctx;
    m->interrupt_status |= VIRTIO_MMIO_INT_VRING;
    update_irq(m);
    if (m->notify)
        m->notify(m->irq_ctx);
}

static void mmio_config_notify(void *ctx)
{
    struct virtio_mmio *m = ctx;
    m->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
    update_irq(m);
    if (m->notify)
        m->notify(m->irq_ctx);
}

static const struct virtio_transport_ops mmio_transport = {
    .used_notify = mmio_used_notify,
    .config_notify = mmio_config_notify,
};

void virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *dev,
                      void (*irq)(void *ctx, bool level), void *irq_ctx)
{
    memset(m, 0, sizeof *m);
    m->dev = dev;
    m->irq = irq;
    m->irq_ctx = irq_ctx;
    virtio_set_transport(dev, &mmio_transport, m);
}

/* The selected queue, or NULL if QueueSel names none. */
static struct virtqueue *selected(struct virtio_mmio *m)
{
    return m->queue_sel < m->dev->num_queues ? &m->dev->vq[m->queue_sel] : NULL;
}

static uint64_t config_read(struct virtio_mmio *m, uint64_t off, unsigned size)
{
    struct virtio_dev *d = m->dev;
    if ((size != 1 && size != 2 && size != 4 && size != 8) || off > d->config_size ||
        size > d->config_size - off)
        return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)d->config[off + i] << (8 * i);
    return v;
}

static void config_write(struct virtio_mmio *m, uint64_t off, unsigned size, uint64_t value)
{
    struct virtio_dev *d = m->dev;
    if ((size != 1 && size != 2 && size != 4 && size != 8) || off > d->config_size ||
        size > d->config_size - off || !d->ops->config_write)
        return;
    uint8_t buf[8];
    for (unsigned i = 0; i < size; i++)
        buf[i] = (uint8_t)(value >> (8 * i));
    d->ops->config_write(d, (unsigned)off, buf, size);
}

static uint32_t reg_read(struct virtio_mmio *m, uint64_t off)
{
    struct virtio_dev *d = m->dev;
    struct virtqueue *vq = selected(m);
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return 2;
    case VIRTIO_MMIO_DEVICE_ID:
        return d->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return virtio_device_features(d, m->device_features_sel);
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return vq ? d->queue_max : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        return vq && vq->ready;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return m->interrupt_status;
    case VIRTIO_MMIO_STATUS:
        return d->status;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
        return 0xffffffffu; /* no shared memory regions */
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return d->config_generation;
    default:
        return 0; /* write-only and reserved registers */
    }
}

/* Queue layout registers take effect only while the queue is not ready: once it is, the
 * device has checked and is using the layout it has. */
static void set_half(uint64_t *field, bool high, uint32_t value)
{
    unsigned shift = high ? 32 : 0;
    *field = (*field & ~(0xffffffffull << shift)) | ((uint64_t)value << shift);
}

static void queue_reg_write(struct virtio_mmio *m, uint64_t off, uint32_t value)
{
    struct virtqueue *vq = selected(m);
    if (!vq || vq->ready)
        return;
    switch (off) {
    case VIRTIO_MMIO_QUEUE_NUM:
        /* Checked against the maximum when the queue is made ready. */
        vq->size = value > 0xffff ? 0 : (uint16_t)value;
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        set_half(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, value);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        set_half(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, value);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        set_half(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, value);
        break;
    }
}

static void reg_write(struct virtio_mmio *m, uint64_t off, uint32_t value)
{
    struct virtio_dev *d = m->dev;
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        m->device_features_sel = value;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        virtio_set_driver_features(d, m->driver_features_sel, value);
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        m->driver_features_sel = value;
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        m->queue_sel = value;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        queue_reg_write(m, off, value);
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (selected(m))
            virtio_queue_set_ready(d, m->queue_sel, value & 1);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        /* Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index. */
        virtio_queue_notify(d, value & 0xffff);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        m->interrupt_status &= ~value;
        update_irq(m);
        break;
    case VIRTIO_MMIO_STATUS:
        /* Only the low byte holds status bits: 0x100 resets like 0 does. */
        virtio_set_status(d, (uint8_t)value);
        if ((uint8_t)value == 0) {
            /* Reset clears the transport too (spec 4.2.2.1). */
            m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
            m->interrupt_status = 0;
            update_irq(m);
        }
        break;
    }
}

uint64_t virtio_mmio_read(struct virtio_mmio *m, uint64_t offset, unsigned size)
{
    if (offset >= VIRTIO_MMIO_CONFIG)
        return config_read(m, offset - VIRTIO_MMIO_CONFIG, size);
    if (size != 4 || (offset & 3))
        return 0;
    return reg_read(m, offset);
}

void virtio_mmio_write(struct virtio_mmio *m, uint64_t offset, unsigned size, uint64_t value)
{
    if (offset >= VIRTIO_MMIO_CONFIG) {
        config_write(m, offset - VIRTIO_MMIO_CONFIG, size, value);
        return;
    }
    if (size != 4 || (offset & 3))
        return;
    reg_write(m, offset, (uint32_t)value);
}
