/* vnet_drv.h: a minimal virtio-mmio network driver for test guests: polled queues of 16, one
 * 2 KiB buffer per descriptor, sleeping in WAIT for VIGIL_EV_DEVICE.  The ring and register
 * handling is guests/rt/virtio_mmio_drv.h, shared with svcos's driver. */
#ifndef VIGIL_TEST_VNET_DRV_H
#define VIGIL_TEST_VNET_DRV_H

#include "rt.h"
#include "virtio_mmio_drv.h"

#define VQ_N   16
#define BUF_SZ 2048

/* One queue: its ring memory, the driver's view of it, and a buffer per descriptor. */
struct vq {
    struct vring_desc desc[VQ_N] __attribute__((aligned(16)));
    uint16_t avail_mem[2 + VQ_N + 1]; /* flags, idx, ring, used_event */
    struct vring_used_elem used_mem[1 + VQ_N] __attribute__((aligned(4))); /* flags+idx first */
    struct vring r;
    uint8_t buf[VQ_N][BUF_SZ]; /* last: break_queue in net.c clears everything before it */
};

struct vnet {
    volatile uint32_t *regs;
    uint8_t mac[6];
    struct vq q[2]; /* rx, tx */
    uint64_t rx_frames, tx_frames;
};

/* Empties the queue's rings and points its vring at them. */
static inline void vq_init(struct vq *q)
{
    memset(q, 0, offsetof(struct vq, buf));
    q->r = (struct vring){
        q->desc, (struct vring_avail *)q->avail_mem, (struct vring_used *)q->used_mem, VQ_N, 0, 0};
}

/* Lays queue `sel` out with its descriptor table at desc_gpa; 0, or -1 if the device refused. */
static inline int vq_setup(struct vnet *n, unsigned sel, struct vq *q, uint64_t desc_gpa)
{
    return vmmio_queue_setup(n->regs, sel, &q->r, desc_gpa);
}

/* Posts chain `id` and makes it visible at once. */
static inline void vq_post(struct vq *q, uint16_t id)
{
    vring_post(&q->r, id);
    vring_publish(&q->r);
}

/* Negotiates VERSION_1 and MAC; leaves the device before DRIVER_OK.  0 or -1. */
static inline int vnet_negotiate(struct vnet *n)
{
    if (vmmio_negotiate(n->regs, VNET_F_MAC) < 0)
        return -1;
    for (int i = 0; i < 6; i++)
        n->mac[i] = vmmio_cfg8(n->regs, (unsigned)i);
    return 0;
}

/* Brings the card up: both queues, every receive buffer posted, DRIVER_OK.  0 or -1. */
static inline int vnet_up(struct vnet *n)
{
    vq_init(&n->q[0]);
    vq_init(&n->q[1]);
    if (vnet_negotiate(n) < 0)
        return -1;
    for (uint16_t i = 0; i < VQ_N; i++) {
        n->q[0].desc[i] =
            (struct vring_desc){(uintptr_t)n->q[0].buf[i], BUF_SZ, VRING_DESC_F_WRITE, 0};
        vq_post(&n->q[0], i);
    }
    if (vq_setup(n, 0, &n->q[0], (uintptr_t)n->q[0].desc) < 0 ||
        vq_setup(n, 1, &n->q[1], (uintptr_t)n->q[1].desc) < 0 || vmmio_driver_ok(n->regs) < 0)
        return -1;
    vmmio_wr(n->regs, VM_QUEUE_NOTIFY, 0);
    return 0;
}

/* Sends one frame (the virtio_net_hdr is prepended here); waits for a free TX slot.  The card
 * completes TX chains in order, so the next slot is the avail index's. */
static inline void vnet_tx(struct vnet *n, const void *frame, size_t len)
{
    struct vring *r = &n->q[1].r;
    uint64_t deadline = rt_monotonic_ns() + 1000000000ull;
    while ((uint16_t)(r->avail_idx - __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE)) >= VQ_N &&
           rt_monotonic_ns() < deadline)
        rt_wait(rt_monotonic_ns() + 1000000, VIGIL_EV_DEVICE);
    uint16_t id = r->avail_idx % VQ_N;
    uint8_t *buf = n->q[1].buf[id];
    if (len > BUF_SZ - VNET_HDR_LEN)
        len = BUF_SZ - VNET_HDR_LEN;
    memset(buf, 0, VNET_HDR_LEN);
    memcpy(buf + VNET_HDR_LEN, frame, len);
    r->desc[id] = (struct vring_desc){(uintptr_t)buf, (uint32_t)(VNET_HDR_LEN + len), 0, 0};
    vq_post(&n->q[1], id);
    vmmio_wr(n->regs, VM_QUEUE_NOTIFY, 1); /* a KVM ioeventfd: no exit */
    n->tx_frames++;
}

/* The next received frame (without the header) into buf, or 0 when none came by deadline. */
static inline size_t vnet_rx(struct vnet *n, void *buf, size_t size, uint64_t deadline_ns)
{
    struct vq *q = &n->q[0];
    for (;;) {
        uint32_t id, len;
        if (vring_next_used(&q->r, &id, &len)) {
            id %= VQ_N;
            size_t flen = len > VNET_HDR_LEN ? len - VNET_HDR_LEN : 0;
            if (flen > size)
                flen = size;
            memcpy(buf, q->buf[id] + VNET_HDR_LEN, flen);
            vq_post(q, (uint16_t)id);
            vmmio_wr(n->regs, VM_QUEUE_NOTIFY, 0);
            n->rx_frames++;
            return flen;
        }
        uint32_t isr = vmmio_rd(n->regs, VM_INT_STATUS);
        if (isr)
            vmmio_wr(n->regs, VM_INT_ACK, isr);
        if (q->r.last_used != __atomic_load_n(&q->r.used->idx, __ATOMIC_ACQUIRE))
            continue;
        if (rt_monotonic_ns() >= deadline_ns)
            return 0;
        rt_wait(deadline_ns, VIGIL_EV_DEVICE);
    }
}

#endif
