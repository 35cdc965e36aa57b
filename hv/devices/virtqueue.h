/* virtqueue.h: a virtio 1.x split virtqueue read from untrusted guest memory. */
#ifndef HV_VIRTQUEUE_H
#define HV_VIRTQUEUE_H

#include "devices/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define VQ_SIZE_MAX     32768u /* the split ring's largest queue */
#define VQ_INDIRECT_MAX 1024u  /* entries in one indirect table (Linux uses a few dozen) */
#define VQ_ERR_LEN      192

#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* Bytes and alignment of the three areas for a queue of `size` entries (spec 2.7). */
#define VQ_DESC_ALIGN     16u
#define VQ_AVAIL_ALIGN    2u
#define VQ_USED_ALIGN     4u
#define VQ_DESC_BYTES(n)  (16ull * (n))
#define VQ_AVAIL_BYTES(n) (6ull + 2ull * (n))
#define VQ_USED_BYTES(n)  (6ull + 8ull * (n))

struct virtqueue {
    /* The driver's layout, written through the transport while the queue is not ready. */
    uint16_t size;
    uint64_t desc_gpa, avail_gpa, used_gpa;

    /* Set by vq_enable. */
    bool ready;
    bool event_idx; /* VIRTIO_F_EVENT_IDX: used_event / avail_event instead of the flags */
    bool indirect;  /* VIRTIO_F_INDIRECT_DESC: chains may end in an indirect table */
    const struct guest_mem *mem;
    uint8_t *desc, *avail, *used; /* host addresses of the three areas */
    uint16_t last_avail;          /* the next avail ring entry the device takes */
    uint16_t used_idx;            /* ours: the guest may scribble on used->idx */
    uint16_t signalled_used;      /* used_idx when we last decided on an interrupt */
    bool signalled_valid;
    char error[VQ_ERR_LEN]; /* why the last call failed */
};

/* One descriptor chain as host segments: iov[0, nread) the device reads, then nwrite it
 * writes.  Zero-length descriptors give no segment.  Valid until the chain is pushed. */
struct vq_chain {
    struct iovec *iov; /* the caller's array ... */
    unsigned cap;      /* ... of this many entries: a longer chain is malformed */
    unsigned nread, nwrite;
    uint64_t read_len, write_len;
    uint16_t head;
};

/* The event-index test of the spec (2.7.10): has new_idx passed event_idx since old_idx? */
static inline bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* Forgets everything but the layout fields, which go back to `size` entries at 0. */
void vq_reset(struct virtqueue *vq, uint16_t size);
/* Checks the layout (size a power of two <= VQ_SIZE_MAX, each area aligned and inside RAM,
 * the used ring writable) and starts the queue at index 0.  0, or -1 with vq->error. */
int vq_enable(struct virtqueue *vq, const struct guest_mem *mem, bool event_idx, bool indirect);

/* Takes the next available chain: 1 with *c filled, 0 if none, -1 if the ring or the chain
 * is malformed (vq->error says how; the queue is then unusable until reset). */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);
/* Gives the chain just popped back, as if it had not been taken (a frame did not fit). */
void vq_unpop(struct virtqueue *vq);
/* Returns a popped chain to the driver with `len` bytes written.  0, or -1 with vq->error
 * if nothing is in flight or head is out of range (a device bug, not the guest's). */
int vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* Should the driver be interrupted for what was pushed since the last call?  Honours
 * used_event (event index) or VIRTQ_AVAIL_F_NO_INTERRUPT. */
bool vq_need_interrupt(struct virtqueue *vq);
/* Asks the driver not to notify while the device is busy with the queue anyway. */
void vq_disable_notify(struct virtqueue *vq);
/* Asks for notifications again; true if buffers arrived meanwhile (pop again, else one
 * added between the last pop and this call would never be noticed). */
bool vq_enable_notify(struct virtqueue *vq);

#endif
