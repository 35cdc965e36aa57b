/* virtqueue_used.c: the device's half of a split ring: used entries and notification suppression.
 */
#include "devices/virtqueue_int.h"

#include <stdatomic.h>

int vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
    if (!vq->ready)
        return vq_fail(vq, "push to a queue that is not ready");
    if (vq->last_avail == vq->used_idx)
        return vq_fail(vq, "push of head %u with no chain in flight", head);
    if (head >= vq->size)
        return vq_fail(vq, "push of head %u >= queue size %u", head, vq->size);
    uint8_t *elem = vq->used + 4 + 8u * (vq->used_idx & (vq->size - 1u));
    vq_st32(elem, head);
    vq_st32(elem + 4, len);
    vq->used_idx++;
    /* Release: the element (and the data written into the buffers) before the index. */
    vq_st16_release(vq->used + 2, vq->used_idx);
    return 0;
}

bool vq_need_interrupt(struct virtqueue *vq)
{
    if (!vq->ready)
        return false;
    /* Our used idx store must be visible before we read the driver's wish, or the driver
     * could re-enable interrupts after checking an old idx and wait forever. */
    atomic_thread_fence(memory_order_seq_cst);
    if (!vq->event_idx)
        return !(vq_ld16(vq->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t old = vq->signalled_used;
    bool valid = vq->signalled_valid;
    vq->signalled_used = vq->used_idx;
    vq->signalled_valid = true;
    if (!valid)
        return true;
    return vring_need_event(vq_ld16(vq_used_event(vq)), vq->used_idx, old);
}

void vq_disable_notify(struct virtqueue *vq)
{
    if (!vq->ready)
        return;
    /* With event index the flags must stay 0: leaving avail_event behind is enough, the
     * driver passes it and stops notifying. */
    if (!vq->event_idx)
        vq_st16(vq->used, VIRTQ_USED_F_NO_NOTIFY);
}

bool vq_enable_notify(struct virtqueue *vq)
{
    if (!vq->ready)
        return false;
    if (vq->event_idx)
        vq_st16(vq_avail_event(vq), vq->last_avail);
    else
        vq_st16(vq->used, 0);
    /* The store above before the re-read of avail idx (store-load: a full fence). */
    atomic_thread_fence(memory_order_seq_cst);
    return vq_ld16_acquire(vq->avail + 2) != vq->last_avail;
}
