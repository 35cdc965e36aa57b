/* virtio_net.c: the driver for hv's virtio-mmio network card (docs/virtio-net.md): polled split
 * rings behind the netstack's NIC interface, WAIT woken by VIGIL_EV_DEVICE. */
#include "ns.h"

#include "netstack.h"
#include "virtio_mmio_drv.h"
#include <errno.h>
#include <string.h>

#define RX      0
#define TX      1
#define QN      256 /* the card's maximum: deep rings keep it busy between polls */
#define LINK_UP 1u

struct vnet {
    volatile uint32_t *regs;
    struct vring q[2];
    unsigned char *bufs[2]; /* QN buffers of buf_len bytes per queue, one per descriptor */
    size_t buf_len;
    uint16_t tx_free[QN], ntx_free; /* descriptors not in the device's hands */
    int tx_pending;                 /* frames published since the last kick */
    int has_status;
    uint64_t next_link_check;
    struct netstack_nic *nic;
};

static struct vnet card;

/* Rings and buffers are svcos pages: RAM is identity mapped, so a pointer is its GPA. */
static int ring_alloc(struct vring *r, unsigned char **bufs, uint16_t size, size_t buf_len)
{
    size_t desc_pages = PAGE_UP(sizeof(struct vring_desc) * size) / PAGE_SIZE;
    size_t buf_pages = PAGE_UP(buf_len * size) / PAGE_SIZE;
    r->size = size;
    r->desc = pages_alloc(desc_pages);
    r->avail = pages_alloc(1);
    r->used = pages_alloc(1);
    *bufs = pages_alloc(buf_pages);
    return r->desc && r->avail && r->used && *bufs ? 0 : -ENOMEM;
}

static void vnet_flush(void *drv)
{
    struct vnet *v = drv;
    if (v->tx_pending) {
        v->tx_pending = 0;
        vring_kick(v->regs, &v->q[TX], TX); /* once per burst: it wakes hv's card thread */
    }
}

/* Transmissions the card has finished give their descriptors back. */
static void reclaim_tx(struct vnet *v)
{
    struct vring *r = &v->q[TX];
    uint32_t id, len;
    while (vring_next_used(r, &id, &len))
        if (id < r->size && v->ntx_free < r->size)
            v->tx_free[v->ntx_free++] = (uint16_t)id;
}

static int vnet_transmit(void *drv, const void *frame, size_t len)
{
    struct vnet *v = drv;
    struct vring *r = &v->q[TX];
    if (len + VNET_HDR_LEN > v->buf_len)
        return -EMSGSIZE;
    if (!v->ntx_free)
        reclaim_tx(v);
    if (!v->ntx_free) {
        vnet_flush(v);
        return -EAGAIN; /* 256 frames in flight: the card's thread is behind */
    }
    uint16_t id = v->tx_free[--v->ntx_free];
    unsigned char *buf = v->bufs[TX] + (size_t)id * v->buf_len;
    memset(buf, 0, VNET_HDR_LEN);
    memcpy(buf + VNET_HDR_LEN, frame, len);
    r->desc[id] = (struct vring_desc){(uintptr_t)buf, (uint32_t)(VNET_HDR_LEN + len), 0, 0};
    vring_post(r, id);
    vring_publish(r);
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
    netstack_nic_link(v->nic, (vmmio_cfg8(v->regs, 6) | vmmio_cfg8(v->regs, 7) << 8) & LINK_UP);
}

static int vnet_poll(void *drv, struct netstack_nic *nic, int budget)
{
    struct vnet *v = drv;
    struct vring *r = &v->q[RX];
    int n = 0;
    uint32_t id, len;
    while (n < budget && vring_next_used(r, &id, &len)) {
        if (id >= r->size)
            continue; /* the card is broken; it says so in NEEDS_RESET */
        if (len > VNET_HDR_LEN && len <= v->buf_len)
            netstack_nic_input(nic, v->bufs[RX] + (size_t)id * v->buf_len + VNET_HDR_LEN,
                               len - VNET_HDR_LEN);
        vring_post(r, (uint16_t)id); /* the buffer goes straight back */
        n++;
    }
    if (n) {
        vring_publish(r);
        vring_kick(v->regs, r, RX);
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
    if (!vmmio_is(v->regs, 1))
        return -ENODEV;
    int64_t feat = vmmio_negotiate(v->regs, VNET_F_MAC | VNET_F_STATUS | VNET_F_MTU);
    if (feat < 0)
        return -ENODEV;
    uint32_t lo = (uint32_t)feat;
    static const uint8_t dflt_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    for (unsigned i = 0; i < 6; i++)
        info->mac[i] = (lo & VNET_F_MAC) ? vmmio_cfg8(v->regs, i) : dflt_mac[i];
    uint16_t mtu = (lo & VNET_F_MTU)
                       ? (uint16_t)(vmmio_cfg8(v->regs, 10) | vmmio_cfg8(v->regs, 11) << 8)
                       : 1500;
    if (mtu < 576) /* IPv4's minimum; the card's maximum is 65520 (a u16, checked by hv) */
        mtu = 576;
    info->mtu = mtu;
    v->has_status = !!(lo & VNET_F_STATUS);
    /* Frames arrive whole (no mergeable buffers): header + Ethernet header + VLAN tag + MTU. */
    v->buf_len = (VNET_HDR_LEN + 14 + 4 + mtu + 63) & ~(size_t)63;
    if (ring_alloc(&v->q[RX], &v->bufs[RX], QN, v->buf_len) < 0 ||
        ring_alloc(&v->q[TX], &v->bufs[TX], QN, v->buf_len) < 0)
        return -ENOMEM;
    for (uint16_t i = 0; i < QN; i++) {
        v->q[RX].desc[i] = (struct vring_desc){(uintptr_t)(v->bufs[RX] + (size_t)i * v->buf_len),
                                               (uint32_t)v->buf_len, VRING_DESC_F_WRITE, 0};
        vring_post(&v->q[RX], i);
        v->tx_free[v->ntx_free++] = (uint16_t)(QN - 1 - i);
    }
    /* Finished transmissions are collected when convenient: no wake-up for them. */
    v->q[TX].avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    vring_publish(&v->q[RX]);
    if (vmmio_queue_setup(v->regs, RX, &v->q[RX], (uintptr_t)v->q[RX].desc) < 0 ||
        vmmio_queue_setup(v->regs, TX, &v->q[TX], (uintptr_t)v->q[TX].desc) < 0)
        return -ENODEV;
    if (vmmio_driver_ok(v->regs) < 0)
        return -EIO;
    vring_kick(v->regs, &v->q[RX], RX);
    return 0;
}

void vnet_probe(void)
{
    const struct vigil_boot_info *bi = svcos_boot_info;
    uint64_t features = 0;
    if (!bi || !VIGIL_BOOT_HAS_DEVICES(bi) || hv_version(&features) < 0 ||
        !(features & VIGIL_FEAT_DEVICE))
        return;
    const struct vigil_boot_device *dev = vmmio_find(bi, 1);
    if (!dev)
        return;
    struct vnet *v = &card;
    v->regs = (volatile uint32_t *)(uintptr_t)dev->base;
    struct netstack_nic_info info = {.ops = &vnet_ops, .drv = v, .hv_events = VIGIL_EV_DEVICE};
    int r = bring_up(v, &info);
    if (r < 0) {
        klog("netstack: virtio-net at %#llx: not brought up (%d)", (unsigned long long)dev->base,
             r);
        vmmio_wr(v->regs, VM_STATUS, 0);
        return;
    }
    v->nic = netstack_add_nic(&info, NULL);
    if (!v->nic)
        vmmio_wr(v->regs, VM_STATUS, 0);
}
