/* virtio.c: the device status machine, feature negotiation and queue bring-up every virtio
 * transport shares; a driver that breaks the rules gets NEEDS_RESET, never hv's downfall. */
#include "devices/virtio.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void virtio_init(struct virtio_dev *d, const char *name, uint32_t device_id, uint64_t features,
                 unsigned num_queues, uint16_t queue_max, const struct virtio_dev_ops *ops,
                 const struct guest_mem *mem)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->device_id = device_id;
    d->device_features = features;
    d->num_queues = num_queues < VIRTIO_QUEUES_MAX ? num_queues : VIRTIO_QUEUES_MAX;
    d->queue_max = queue_max;
    d->ops = ops;
    d->mem = *mem;
    virtio_reset(d);
}

void virtio_set_transport(struct virtio_dev *d, const struct virtio_transport_ops *ops, void *ctx)
{
    d->transport = ops;
    d->transport_ctx = ctx;
}

void virtio_set_error_handler(struct virtio_dev *d, void (*fn)(void *, const char *), void *ctx)
{
    d->on_error = fn;
    d->error_ctx = ctx;
}

void virtio_set_mem(struct virtio_dev *d, const struct guest_mem *mem)
{
    d->mem = *mem;
    virtio_reset(d);
}

void virtio_reset(struct virtio_dev *d)
{
    d->status = 0;
    d->driver_features = 0;
    d->more_work = 0;
    d->error[0] = '\0';
    /* The spec's default queue size is the maximum; an MMIO driver writes its own. */
    for (unsigned q = 0; q < d->num_queues; q++)
        vq_reset(&d->vq[q], d->queue_max);
    if (d->ops && d->ops->reset)
        d->ops->reset(d);
}

uint32_t virtio_device_features(const struct virtio_dev *d, unsigned word)
{
    return word < 2 ? (uint32_t)(d->device_features >> (32 * word)) : 0;
}

uint32_t virtio_driver_features(const struct virtio_dev *d, unsigned word)
{
    return word < 2 ? (uint32_t)(d->driver_features >> (32 * word)) : 0;
}

void virtio_set_driver_features(struct virtio_dev *d, unsigned word, uint32_t value)
{
    /* Features are fixed from FEATURES_OK on: the queues were set up under them. */
    if (word >= 2 || (d->status & VIRTIO_STATUS_FEATURES_OK))
        return;
    unsigned shift = 32 * word;
    d->driver_features &= ~(0xffffffffull << shift);
    d->driver_features |= (uint64_t)value << shift;
}

bool virtio_has_feature(const struct virtio_dev *d, unsigned bit)
{
    return bit < 64 && (d->driver_features & VIRTIO_BIT(bit));
}

bool virtio_live(const struct virtio_dev *d)
{
    return (d->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(d->status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

void virtio_fail(struct virtio_dev *d, const char *fmt, ...)
{
    /* The first reason is the cause; later ones are its consequences. */
    if (d->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    int n = snprintf(d->error, sizeof d->error, "%s: ", d->name ? d->name : "virtio");
    if (n < 0 || (size_t)n >= sizeof d->error)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error + n, sizeof d->error - (size_t)n, fmt, ap);
    va_end(ap);
    d->status |= VIRTIO_STATUS_NEEDS_RESET;
    d->more_work = 0;
    if (d->on_error)
        d->on_error(d->error_ctx, d->error);
    /* Spec 2.1.2: after DRIVER_OK the driver learns of NEEDS_RESET by a config change. */
    if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->transport && d->transport->config_notify)
        d->transport->config_notify(d->transport_ctx);
}

static bool features_acceptable(const struct virtio_dev *d)
{
    return !(d->driver_features & ~d->device_features) &&
           (d->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

void virtio_set_status(struct virtio_dev *d, uint8_t status)
{
    if (status == 0) {
        virtio_reset(d);
        return;
    }
    uint8_t old = d->status;
    uint8_t now = (uint8_t)((status & ~VIRTIO_STATUS_NEEDS_RESET) | old);
    /* A refused feature set is the driver's answer: FEATURES_OK reads back clear. */
    if ((now & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
        !features_acceptable(d))
        now &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    bool starting = (now & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK);
    if (starting && !(now & VIRTIO_STATUS_FEATURES_OK)) {
        d->status = (uint8_t)(now & ~VIRTIO_STATUS_DRIVER_OK);
        virtio_fail(d, "DRIVER_OK without FEATURES_OK");
        return;
    }
    d->status = now;
    if (!starting)
        return;
    /* The device ignored notifications before DRIVER_OK: look at every queue once now. */
    for (unsigned q = 0; q < d->num_queues; q++)
        if (d->vq[q].ready)
            virtio_queue_notify(d, q);
}

void virtio_queue_set_ready(struct virtio_dev *d, unsigned q, bool ready)
{
    if (q >= d->num_queues)
        return;
    struct virtqueue *vq = &d->vq[q];
    if (!ready) {
        vq->ready = false;
        d->more_work &= ~(1u << q);
        return;
    }
    if (vq->ready || (d->status & VIRTIO_STATUS_NEEDS_RESET))
        return;
    if (!(d->status & VIRTIO_STATUS_FEATURES_OK)) {
        virtio_fail(d, "queue %u made ready before FEATURES_OK", q);
        return;
    }
    if (vq->size > d->queue_max) {
        virtio_fail(d, "queue %u: size %u > maximum %u", q, vq->size, d->queue_max);
        return;
    }
    if (vq_enable(vq, &d->mem, virtio_has_feature(d, VIRTIO_F_EVENT_IDX),
                  virtio_has_feature(d, VIRTIO_F_INDIRECT_DESC)) < 0)
        virtio_fail(d, "queue %u: %s", q, vq->error);
}

bool virtio_queue_notify(struct virtio_dev *d, unsigned q)
{
    if (q >= d->num_queues || !virtio_live(d) || !d->vq[q].ready || !d->ops->queue_notify)
        return false;
    bool more = d->ops->queue_notify(d, q);
    if (more && virtio_live(d))
        d->more_work |= 1u << q;
    else
        d->more_work &= ~(1u << q);
    return more && virtio_live(d);
}

void virtio_queue_interrupt(struct virtio_dev *d, unsigned q)
{
    if (q < d->num_queues && vq_need_interrupt(&d->vq[q]) && d->transport &&
        d->transport->used_notify)
        d->transport->used_notify(d->transport_ctx, q);
}

void virtio_config_changed(struct virtio_dev *d)
{
    d->config_generation++;
    if ((d->status & VIRTIO_STATUS_DRIVER_OK) && d->transport && d->transport->config_notify)
        d->transport->config_notify(d->transport_ctx);
}
