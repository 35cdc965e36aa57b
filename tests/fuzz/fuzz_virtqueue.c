/* fuzz_virtqueue.c: libFuzzer target: arbitrary guest RAM and ring state through the virtqueue,
 * the virtio-net TX/RX paths and the virtio-mmio registers; hv must never touch memory
 * outside guest RAM, and every malformed ring must end in NEEDS_RESET with a reason. */
#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"
#include "devices/virtqueue.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Input: a 64-byte header, then guest RAM from address 0 (the rest of RAM is zero).
 *   [0]       queue size: 1 << (b & 7), or with bit 7 the raw 16-bit value at [20]
 *   [1]       bit 0 event index, bit 1 indirect, bit 2 net device (else the bare queue),
 *             bit 3 offer an MTU
 *   [2..7]    TX (or bare) queue: desc, avail, used addresses, le16 each
 *   [8..9]    bare queue: starting index (16-bit wrap-around)
 *   [10..15]  RX queue: desc, avail, used
 *   [16..17]  length of the frame offered to RX
 *   [18]      number of MMIO writes that follow (at most 7)
 *   [22..63]  MMIO writes: le16 offset, le32 value */
#define HDR      64
#define RAM      (128u * 1024)
#define MAX_OPS  7
#define MAX_POPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

/* A segment must lie inside guest RAM; touching its ends lets ASan see it too. */
static void check_segment(const struct guest_mem *m, const struct iovec *v, bool write)
{
    const uint8_t *p = v->iov_base;
    if (v->iov_len == 0 || p < m->base || v->iov_len > m->size ||
        (size_t)(p - m->base) > m->size - v->iov_len)
        __builtin_trap();
    if (write) {
        ((uint8_t *)v->iov_base)[0] = 0xa5;
        ((uint8_t *)v->iov_base)[v->iov_len - 1] = 0x5a;
    } else {
        volatile uint8_t sink = p[0];
        sink = p[v->iov_len - 1];
        (void)sink;
    }
}

static void fuzz_queue(const uint8_t *h, struct guest_mem *m, uint16_t qsize)
{
    struct virtqueue vq;
    vq_reset(&vq, qsize);
    vq.desc_gpa = le16(h + 2);
    vq.avail_gpa = le16(h + 4);
    vq.used_gpa = le16(h + 6);
    if (vq_enable(&vq, m, h[1] & 1, h[1] & 2) < 0) {
        if (!vq.error[0] || vq.ready)
            __builtin_trap();
        return;
    }
    vq.last_avail = vq.used_idx = le16(h + 8);
    struct iovec iov[64];
    struct vq_chain c = {.iov = iov, .cap = 64};
    for (unsigned i = 0; i < MAX_POPS; i++) {
        int r = vq_pop(&vq, &c);
        if (r < 0) {
            if (!vq.error[0])
                __builtin_trap();
            return;
        }
        if (r == 0) {
            if (!vq_enable_notify(&vq))
                return;
            vq_disable_notify(&vq);
            continue;
        }
        uint64_t rl = 0, wl = 0;
        if (c.head >= qsize || c.nread + c.nwrite > c.cap)
            __builtin_trap();
        for (unsigned k = 0; k < c.nread + c.nwrite; k++) {
            check_segment(m, &iov[k], k >= c.nread);
            *(k < c.nread ? &rl : &wl) += iov[k].iov_len;
        }
        if (rl != c.read_len || wl != c.write_len)
            __builtin_trap();
        if (i % 5 == 4) { /* now and then: give it back, take it again */
            vq_unpop(&vq);
            continue;
        }
        if (vq_push(&vq, c.head, (uint32_t)c.write_len) < 0)
            __builtin_trap(); /* a popped chain can always be pushed */
        (void)vq_need_interrupt(&vq);
    }
}

struct fuzz_net {
    struct guest_mem *m;
    struct virtio_net n;
    struct virtio_mmio mmio;
};

static void be_send(void *ctx, const struct iovec *iov, unsigned n)
{
    struct fuzz_net *f = ctx;
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        check_segment(f->m, &iov[i], false);
        total += iov[i].iov_len;
    }
    if (total == 0 || total > VNET_FRAME_MAX)
        __builtin_trap();
}

static const struct net_backend_ops backend = {.send = be_send};

static void no_irq(void *ctx, bool level)
{
    (void)ctx;
    (void)level;
}

static uint8_t frame[65536]; /* what RX offers: any le16 length */

static void fuzz_net(const uint8_t *h, struct guest_mem *m, uint16_t qsize)
{
    static struct fuzz_net f; /* 8 KiB of iovecs: not on the stack */
    memset(&f, 0, sizeof f);
    f.m = m;
    struct virtio_net_params p = {{2, 0, 0, 0, 0, 1}, (h[1] & 8) ? 1500 : 0};
    virtio_net_init(&f.n, &p, m, &backend, &f);
    virtio_mmio_init(&f.mmio, &f.n.dev, no_irq, NULL);
    struct virtio_dev *d = &f.n.dev;

    uint64_t feat = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC);
    if (h[1] & 1)
        feat |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
    if (h[1] & 2)
        feat |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
    if (h[1] & 8)
        feat |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
    virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_set_driver_features(d, 0, (uint32_t)feat);
    virtio_set_driver_features(d, 1, (uint32_t)(feat >> 32));
    virtio_set_status(d, 0x0b);
    const uint8_t *lay[2] = {h + 10, h + 2};
    for (unsigned q = 0; q < 2; q++) {
        d->vq[q].size = qsize;
        d->vq[q].desc_gpa = le16(lay[q]);
        d->vq[q].avail_gpa = le16(lay[q] + 2);
        d->vq[q].used_gpa = le16(lay[q] + 4);
        virtio_queue_set_ready(d, q, true);
    }
    virtio_set_status(d, 0x0f); /* DRIVER_OK runs TX once */

    enum vnet_rx r = virtio_net_receive(&f.n, frame, le16(h + 16));
    if (r == VNET_RX_BROKEN && !(d->status & VIRTIO_STATUS_NEEDS_RESET))
        __builtin_trap();

    unsigned nops = h[18] < MAX_OPS ? h[18] : MAX_OPS;
    for (unsigned i = 0; i < nops; i++) {
        const uint8_t *op = h + 22 + 6 * i;
        uint16_t off = le16(op);
        if (off & 0x8000)
            (void)virtio_mmio_read(&f.mmio, off & 0x1ff, 1u << (off >> 12 & 3));
        else
            virtio_mmio_write(&f.mmio, off & 0x1ff, 4, le32(op + 2));
    }
    virtio_queue_notify(d, VNET_TXQ);
    if ((d->status & VIRTIO_STATUS_NEEDS_RESET) && !d->error[0])
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    /* Exactly RAM bytes from malloc, so ASan reports a single byte read or written past
     * guest RAM; allocated once, as a fresh 128 KiB a run would cost more than the run. */
    static uint8_t *ram;
    if (!ram && !(ram = malloc(RAM)))
        return 0;
    size_t n = size - HDR < RAM ? size - HDR : RAM;
    memcpy(ram, data + HDR, n);
    memset(ram + n, 0, RAM - n);
    struct guest_mem m = {.base = ram, .size = RAM};
    uint16_t qsize = (data[0] & 0x80) ? le16(data + 20) : (uint16_t)(1u << (data[0] & 7));
    if (data[1] & 4)
        fuzz_net(data, &m, qsize);
    else
        fuzz_queue(data, &m, qsize);
    return 0;
}
