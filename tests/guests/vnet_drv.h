/* vnet_drv.h: a minimal virtio-mmio network driver for test guests: polled queues of 16, one
 * 2 KiB buffer per descriptor, sleeping in WAIT for VIGIL_EV_DEVICE. */
#ifndef VIGIL_TEST_VNET_DRV_H
#define VIGIL_TEST_VNET_DRV_H

#include "rt.h"

#define VQ_N      16
#define BUF_SZ    2048
#define HDR_LEN   12
#define STATUS_OK 0x0f /* ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK */

/* virtio-mmio registers (offsets) and virtio bits this driver uses. */
enum {
    R_MAGIC = 0x000,
    R_VERSION = 0x004,
    R_DEVICE_ID = 0x008,
    R_DEV_FEAT = 0x010,
    R_DEV_FEAT_SEL = 0x014,
    R_DRV_FEAT = 0x020,
    R_DRV_FEAT_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM_MAX = 0x034,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060,
    R_INT_ACK = 0x064,
    R_STATUS = 0x070,
    R_DESC_LO = 0x080,
    R_DESC_HI = 0x084,
    R_DRIVER_LO = 0x090,
    R_DRIVER_HI = 0x094,
    R_DEVICE_LO = 0x0a0,
    R_DEVICE_HI = 0x0a4,
    R_CONFIG = 0x100,
};
#define F_MAC        (1u << 5)
#define F_VERSION_1  1u /* bit 32: word 1, bit 0 */
#define DESC_F_NEXT  1
#define DESC_F_WRITE 2

struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vq {
    struct vq_desc desc[VQ_N] __attribute__((aligned(16)));
    struct {
        uint16_t flags, idx, ring[VQ_N], used_event;
    } avail __attribute__((aligned(2)));
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[VQ_N];
        uint16_t avail_event;
    } used __attribute__((aligned(4)));
    uint16_t last_used;
    uint8_t buf[VQ_N][BUF_SZ];
};

struct vnet {
    volatile uint32_t *regs;
    uint8_t mac[6];
    struct vq q[2]; /* rx, tx */
    uint64_t rx_frames, tx_frames;
};

static inline void barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

static inline uint32_t reg_rd(struct vnet *n, unsigned off)
{
    return n->regs[off / 4];
}

static inline void reg_wr(struct vnet *n, unsigned off, uint32_t v)
{
    n->regs[off / 4] = v;
}

/* The first virtio-mmio network card in the boot info, or NULL. */
static inline const struct vigil_boot_device *vnet_find(const struct vigil_boot_info *bi)
{
    if (!VIGIL_BOOT_HAS_DEVICES(bi))
        return NULL;
    for (uint32_t i = 0; i < bi->device_count && i < VIGIL_BOOT_DEV_MAX; i++)
        if (bi->devices[i].type == VIGIL_DEV_VIRTIO_MMIO && bi->devices[i].id == 1)
            return &bi->devices[i];
    return NULL;
}

static inline void vq_post(struct vq *q, uint16_t id)
{
    q->avail.ring[q->avail.idx % VQ_N] = id;
    barrier();
    q->avail.idx++;
    barrier();
}

/* Lays queue `sel` out at q; returns 0 or -1 when the device keeps it not ready. */
static inline int vq_setup(struct vnet *n, unsigned sel, struct vq *q, uint64_t desc_gpa)
{
    reg_wr(n, R_QUEUE_SEL, sel);
    if (reg_rd(n, R_QUEUE_NUM_MAX) < VQ_N)
        return -1;
    reg_wr(n, R_QUEUE_NUM, VQ_N);
    reg_wr(n, R_DESC_LO, (uint32_t)desc_gpa);
    reg_wr(n, R_DESC_HI, (uint32_t)(desc_gpa >> 32));
    reg_wr(n, R_DRIVER_LO, (uint32_t)(uintptr_t)&q->avail);
    reg_wr(n, R_DRIVER_HI, 0);
    reg_wr(n, R_DEVICE_LO, (uint32_t)(uintptr_t)&q->used);
    reg_wr(n, R_DEVICE_HI, 0);
    reg_wr(n, R_QUEUE_READY, 1);
    return reg_rd(n, R_QUEUE_READY) == 1 ? 0 : -1;
}

/* Negotiates VERSION_1 and MAC; leaves the device before DRIVER_OK.  0 or -1. */
static inline int vnet_negotiate(struct vnet *n)
{
    reg_wr(n, R_STATUS, 0);
    reg_wr(n, R_STATUS, 1);
    reg_wr(n, R_STATUS, 3);
    reg_wr(n, R_DEV_FEAT_SEL, 1);
    uint32_t hi = reg_rd(n, R_DEV_FEAT);
    reg_wr(n, R_DEV_FEAT_SEL, 0);
    uint32_t lo = reg_rd(n, R_DEV_FEAT);
    if (!(hi & F_VERSION_1))
        return -1;
    reg_wr(n, R_DRV_FEAT_SEL, 1);
    reg_wr(n, R_DRV_FEAT, F_VERSION_1);
    reg_wr(n, R_DRV_FEAT_SEL, 0);
    reg_wr(n, R_DRV_FEAT, lo & F_MAC);
    reg_wr(n, R_STATUS, 0xb);
    if (!(reg_rd(n, R_STATUS) & 8))
        return -1;
    for (int i = 0; i < 6; i++)
        n->mac[i] = ((volatile uint8_t *)n->regs)[R_CONFIG + i];
    return 0;
}

/* Brings the card up: both queues, every receive buffer posted, DRIVER_OK.  0 or -1. */
static inline int vnet_up(struct vnet *n)
{
    memset(n->q, 0, sizeof n->q);
    if (vnet_negotiate(n) < 0)
        return -1;
    for (uint16_t i = 0; i < VQ_N; i++) {
        n->q[0].desc[i] = (struct vq_desc){(uintptr_t)n->q[0].buf[i], BUF_SZ, DESC_F_WRITE, 0};
        vq_post(&n->q[0], i);
    }
    if (vq_setup(n, 0, &n->q[0], (uintptr_t)n->q[0].desc) < 0 ||
        vq_setup(n, 1, &n->q[1], (uintptr_t)n->q[1].desc) < 0)
        return -1;
    reg_wr(n, R_STATUS, STATUS_OK);
    reg_wr(n, R_QUEUE_NOTIFY, 0);
    return reg_rd(n, R_STATUS) == STATUS_OK ? 0 : -1;
}

/* Sends one frame (the virtio_net_hdr is prepended here); waits for a free TX slot. */
static inline void vnet_tx(struct vnet *n, const void *frame, size_t len)
{
    struct vq *q = &n->q[1];
    uint64_t deadline = rt_monotonic_ns() + 1000000000ull;
    while ((uint16_t)(q->avail.idx - q->used.idx) >= VQ_N && rt_monotonic_ns() < deadline)
        rt_wait(rt_monotonic_ns() + 1000000, VIGIL_EV_DEVICE);
    uint16_t id = q->avail.idx % VQ_N;
    if (len > BUF_SZ - HDR_LEN)
        len = BUF_SZ - HDR_LEN;
    memset(q->buf[id], 0, HDR_LEN);
    memcpy(q->buf[id] + HDR_LEN, frame, len);
    q->desc[id] = (struct vq_desc){(uintptr_t)q->buf[id], (uint32_t)(HDR_LEN + len), 0, 0};
    vq_post(q, id);
    reg_wr(n, R_QUEUE_NOTIFY, 1); /* a KVM ioeventfd: no exit */
    n->tx_frames++;
}

/* The next received frame (without the header) into buf, or 0 when none came by deadline. */
static inline size_t vnet_rx(struct vnet *n, void *buf, size_t size, uint64_t deadline_ns)
{
    struct vq *q = &n->q[0];
    for (;;) {
        barrier();
        if (q->last_used != ((volatile struct vq *)q)->used.idx) {
            barrier();
            uint32_t id = q->used.ring[q->last_used % VQ_N].id % VQ_N;
            uint32_t len = q->used.ring[q->last_used % VQ_N].len;
            q->last_used++;
            size_t flen = len > HDR_LEN ? len - HDR_LEN : 0;
            if (flen > size)
                flen = size;
            memcpy(buf, q->buf[id] + HDR_LEN, flen);
            vq_post(q, (uint16_t)id);
            reg_wr(n, R_QUEUE_NOTIFY, 0);
            n->rx_frames++;
            return flen;
        }
        uint32_t isr = reg_rd(n, R_INT_STATUS);
        if (isr)
            reg_wr(n, R_INT_ACK, isr);
        if (q->last_used != ((volatile struct vq *)q)->used.idx)
            continue;
        uint64_t now = rt_monotonic_ns();
        if (now >= deadline_ns)
            return 0;
        rt_wait(deadline_ns, VIGIL_EV_DEVICE);
    }
}

#endif
