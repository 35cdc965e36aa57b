/* virtio_net.c: the driver for hv's virtio-mmio network card (docs/virtio-net.md): polled split
 * rings behind the netstack's NIC interface, WAIT woken by VIGIL_EV_DEVICE. */
#include "ns.h"

#include "netstack.h"
#include <errno.h>
#include <string.h>

/* virtio-mmio v2 registers and the virtio 1.x bits this driver uses. */
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
    R_STATUS = 0x070,
    R_DESC_LO = 0x080,
    R_DESC_HI = 0x084,
    R_DRIVER_LO = 0x090,
    R_DRIVER_HI = 0x094,
    R_DEVICE_LO = 0x0a0,
    R_DEVICE_HI = 0x0a4,
    R_CONFIG = 0x100,
};
#define S_ACKNOWLEDGE        1u
#define S_DRIVER             2u
#define S_DRIVER_OK          4u
#define S_FEATURES_OK        8u
#define F_MTU                (1u << 3)  /* word 0 */
#define F_MAC                (1u << 5)  /* word 0 */
#define F_STATUS             (1u << 16) /* word 0 */
#define F_VERSION_1          (1u << 0)  /* word 1 (feature bit 32) */
#define LINK_UP              1u
#define DESC_F_WRITE         2u
#define AVAIL_F_NO_INTERRUPT 1u
#define USED_F_NO_NOTIFY     1u

#define RX      0
#define TX      1
#define QN      256 /* the card's maximum: deep rings keep it busy between polls */
#define HDR_LEN 12  /* struct virtio_net_hdr with VERSION_1; all zero: no offloads */

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct avail {
    uint16_t flags, idx, ring[QN], used_event;
};
struct used {
    uint16_t flags, idx;
    struct {
        uint32_t id, len;
    } ring[QN];
    uint16_t avail_event;
};

struct vring {
    struct desc *desc;
    struct avail *avail;
    struct used *used;
    uint16_t size, avail_idx, last_used;
    unsigned char *bufs; /* size buffers of buf_len bytes, one per descriptor */
};

struct vnet {
    volatile uint32_t *regs;
    struct vring q[2];
    size_t buf_len;
    uint16_t tx_free[QN], ntx_free; /* descriptors not in the device's hands */
    int tx_pending;                 /* frames published since the last kick */
    int has_status;
    uint64_t next_link_check;
    struct netstack_nic *nic;
};

static struct vnet card;

static uint32_t rd(struct vnet *v, unsigned off)
{
    return v->regs[off / 4];
}

static void wr(struct vnet *v, unsigned off, uint32_t val)
{
    v->regs[off / 4] = val;
}

static uint8_t cfg8(struct vnet *v, unsigned off)
{
    return ((volatile uint8_t *)v->regs)[R_CONFIG + off];
}

/* Rings and buffers are svcos pages: RAM is identity mapped, so a pointer is its GPA. */
static int ring_alloc(struct vring *r, uint16_t size, size_t buf_len)
{
    size_t desc_pages = PAGE_UP(sizeof(struct desc) * size) / PAGE_SIZE;
    size_t buf_pages = PAGE_UP(buf_len * size) / PAGE_SIZE;
    r->size = size;
    r->desc = pages_alloc(desc_pages);
    r->avail = pages_alloc(1);
    r->used = pages_alloc(1);
    r->bufs = pages_alloc(buf_pages);
    return r->desc && r->avail && r->used && r->bufs ? 0 : -ENOMEM;
}

static int ring_setup(struct vnet *v, unsigned sel, struct vring *r)
{
    wr(v, R_QUEUE_SEL, sel);
    uint32_t max = rd(v, R_QUEUE_NUM_MAX);
    if (max < r->size)
        return -ENODEV;
    uint64_t d = (uintptr_t)r->desc, a = (uintptr_t)r->avail, u = (uintptr_t)r->used;
    wr(v, R_QUEUE_NUM, r->size);
    wr(v, R_DESC_LO, (uint32_t)d);
    wr(v, R_DESC_HI, (uint32_t)(d >> 32));
    wr(v, R_DRIVER_LO, (uint32_t)a);
    wr(v, R_DRIVER_HI, (uint32_t)(a >> 32));
    wr(v, R_DEVICE_LO, (uint32_t)u);
    wr(v, R_DEVICE_HI, (uint32_t)(u >> 32));
    wr(v, R_QUEUE_READY, 1);
    return rd(v, R_QUEUE_READY) == 1 ? 0 : -EIO;
}

/* Makes new avail entries visible (a card already draining the queue takes them). */
static void publish(struct vnet *v, unsigned q)
{
    struct vring *r = &v->q[q];
    __atomic_store_n(&r->avail->idx, r->avail_idx, __ATOMIC_RELEASE);
}

/* Notifies the card unless it said it is busy draining; the fence orders our index store
 * before reading its flag (virtio 1.x 2.7.13).  The write is an ioeventfd: it wakes the card's
 * thread, so TX does it once per burst (vnet_flush), not once per frame. */
static void kick(struct vnet *v, unsigned q)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(__atomic_load_n(&v->q[q].used->flags, __ATOMIC_ACQUIRE) & USED_F_NO_NOTIFY)) {
        wr(v, R_QUEUE_NOTIFY, q);
    }
}

static void vnet_flush(void *drv)
{
    struct vnet *v = drv;
    if (v->tx_pending) {
        v->tx_pending = 0;
        kick(v, TX);
    }
}

static void post(struct vring *r, uint16_t id)
{
    r->avail->ring[r->avail_idx % r->size] = id;
    r->avail_idx++;
}

/* Transmissions the card has finished give their descriptors back. */
static void reclaim_tx(struct vnet *v)
{
    struct vring *r = &v->q[TX];
    uint16_t end = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
    for (; r->last_used != end; r->last_used++) {
        uint32_t id = r->used->ring[r->last_used % r->size].id;
        if (id < r->size && v->ntx_free < r->size)
            v->tx_free[v->ntx_free++] = (uint16_t)id;
    }
}

static int vnet_transmit(void *drv, const void *frame, size_t len)
{
    struct vnet *v = drv;
    struct vring *r = &v->q[TX];
    if (len + HDR_LEN > v->buf_len)
        return -EMSGSIZE;
    if (!v->ntx_free)
        reclaim_tx(v);
    if (!v->ntx_free) {
        vnet_flush(v);
        return -EAGAIN; /* 256 frames in flight: the card's thread is behind */
    }
    uint16_t id = v->tx_free[--v->ntx_free];
    unsigned char *buf = r->bufs + (size_t)id * v->buf_len;
    memset(buf, 0, HDR_LEN);
    memcpy(buf + HDR_LEN, frame, len);
    r->desc[id] = (struct desc){(uintptr_t)buf, (uint32_t)(HDR_LEN + len), 0, 0};
    post(r, id);
    publish(v, TX);
    v->tx_pending = 1;
    return 0;
}

/* The link state is config space (an exit to hv per read): looked at once a second. */
static void check_link(struct vnet *v)
{
    uint64_t now = time_mono_ns();
    if (!v->has_status || now < v->next_link_check)
        return;
    v->next_link_check = now + NS_PER_S;
    netstack_nic_link(v->nic, (cfg8(v, 6) | cfg8(v, 7) << 8) & LINK_UP);
}

static int vnet_poll(void *drv, struct netstack_nic *nic, int budget)
{
    struct vnet *v = drv;
    struct vring *r = &v->q[RX];
    int n = 0;
    uint16_t end = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
    while (r->last_used != end && n < budget) {
        uint32_t id = r->used->ring[r->last_used % r->size].id;
        uint32_t len = r->used->ring[r->last_used % r->size].len;
        r->last_used++;
        if (id >= r->size)
            continue; /* the card is broken; it says so in NEEDS_RESET */
        if (len > HDR_LEN && len <= v->buf_len)
            netstack_nic_input(nic, r->bufs + (size_t)id * v->buf_len + HDR_LEN, len - HDR_LEN);
        post(r, (uint16_t)id); /* the buffer goes straight back */
        n++;
        if (r->last_used == end)
            end = __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
    }
    if (n) {
        publish(v, RX);
        kick(v, RX);
    }
    reclaim_tx(v);
    check_link(v);
    return n;
}

static const struct netstack_nic_ops vnet_ops = {
    .transmit = vnet_transmit, .poll = vnet_poll, .flush = vnet_flush};

/* virtio 1.x 3.1.1: reset, acknowledge, negotiate, queues, buffers, DRIVER_OK. */
static int bring_up(struct vnet *v, struct netstack_nic_info *info)
{
    if (rd(v, R_MAGIC) != 0x74726976 || rd(v, R_VERSION) != 2 || rd(v, R_DEVICE_ID) != 1)
        return -ENODEV;
    wr(v, R_STATUS, 0);
    wr(v, R_STATUS, S_ACKNOWLEDGE);
    wr(v, R_STATUS, S_ACKNOWLEDGE | S_DRIVER);
    wr(v, R_DEV_FEAT_SEL, 1);
    uint32_t hi = rd(v, R_DEV_FEAT);
    wr(v, R_DEV_FEAT_SEL, 0);
    uint32_t lo = rd(v, R_DEV_FEAT) & (F_MAC | F_STATUS | F_MTU);
    if (!(hi & F_VERSION_1))
        return -ENODEV;
    wr(v, R_DRV_FEAT_SEL, 1);
    wr(v, R_DRV_FEAT, F_VERSION_1);
    wr(v, R_DRV_FEAT_SEL, 0);
    wr(v, R_DRV_FEAT, lo);
    wr(v, R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if (!(rd(v, R_STATUS) & S_FEATURES_OK))
        return -ENODEV;
    static const uint8_t dflt_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    for (unsigned i = 0; i < 6; i++)
        info->mac[i] = (lo & F_MAC) ? cfg8(v, i) : dflt_mac[i];
    uint16_t mtu = (lo & F_MTU) ? (uint16_t)(cfg8(v, 10) | cfg8(v, 11) << 8) : 1500;
    if (mtu < 576 || mtu > 9000) /* the netstack's segments are Ethernet-sized anyway */
        mtu = mtu < 576 ? 576 : 9000;
    info->mtu = mtu;
    v->has_status = !!(lo & F_STATUS);
    /* Frames arrive whole (no mergeable buffers): header + Ethernet header + VLAN tag + MTU. */
    v->buf_len = (HDR_LEN + 14 + 4 + mtu + 63) & ~(size_t)63;
    if (ring_alloc(&v->q[RX], QN, v->buf_len) < 0 || ring_alloc(&v->q[TX], QN, v->buf_len) < 0)
        return -ENOMEM;
    for (uint16_t i = 0; i < QN; i++) {
        v->q[RX].desc[i] = (struct desc){(uintptr_t)(v->q[RX].bufs + (size_t)i * v->buf_len),
                                         (uint32_t)v->buf_len, DESC_F_WRITE, 0};
        post(&v->q[RX], i);
        v->tx_free[v->ntx_free++] = (uint16_t)(QN - 1 - i);
    }
    /* Finished transmissions are collected when convenient: no wake-up for them. */
    v->q[TX].avail->flags = AVAIL_F_NO_INTERRUPT;
    __atomic_store_n(&v->q[RX].avail->idx, v->q[RX].avail_idx, __ATOMIC_RELEASE);
    int r = ring_setup(v, RX, &v->q[RX]);
    if (r == 0)
        r = ring_setup(v, TX, &v->q[TX]);
    if (r < 0)
        return r;
    wr(v, R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    if (!(rd(v, R_STATUS) & S_DRIVER_OK))
        return -EIO;
    kick(v, RX);
    return 0;
}

void vnet_probe(void)
{
    const struct vigil_boot_info *bi = svcos_boot_info;
    uint64_t features = 0;
    if (!bi || !VIGIL_BOOT_HAS_DEVICES(bi) || hv_version(&features) < 0 ||
        !(features & VIGIL_FEAT_DEVICE))
        return;
    const struct vigil_boot_device *dev = NULL;
    for (uint32_t i = 0; i < bi->device_count && i < VIGIL_BOOT_DEV_MAX && !dev; i++)
        if (bi->devices[i].type == VIGIL_DEV_VIRTIO_MMIO && bi->devices[i].id == 1)
            dev = &bi->devices[i];
    if (!dev)
        return;
    struct vnet *v = &card;
    v->regs = (volatile uint32_t *)(uintptr_t)dev->base;
    struct netstack_nic_info info = {.ops = &vnet_ops, .drv = v, .hv_events = VIGIL_EV_DEVICE};
    int r = bring_up(v, &info);
    if (r < 0) {
        klog("netstack: virtio-net at %#llx: not brought up (%d)", (unsigned long long)dev->base,
             r);
        wr(v, R_STATUS, 0);
        return;
    }
    v->nic = netstack_add_nic(&info, NULL);
    if (!v->nic)
        wr(v, R_STATUS, 0);
}
