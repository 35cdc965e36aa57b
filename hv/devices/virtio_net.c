/* virtio_net.c: virtio-net's queues and config: frames from TX chains to the backend, frames
 * from the backend into RX chains, and any chain that breaks the rules ends in NEEDS_RESET. */
#include "devices/virtio_net.h"

#include <stddef.h>
#include <string.h>

static struct virtio_net *to_net(struct virtio_dev *d)
{
    return (struct virtio_net *)(void *)((char *)d - offsetof(struct virtio_net, dev));
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Config space (spec 5.1.4): mac[6], status, max_virtqueue_pairs, mtu; all le16. */
static void fill_config(struct virtio_net *n)
{
    put16(n->dev.config + 6, n->link_up ? VIRTIO_NET_S_LINK_UP : 0);
    put16(n->dev.config + 8, 1);
    put16(n->dev.config + 10, n->mtu);
}

/* Strips the virtio_net_hdr off the front of a chain's readable segments (it may span
 * several, or share one with the frame); returns the first frame segment. */
static struct iovec *skip_header(struct vq_chain *c, unsigned *n)
{
    size_t skip = VNET_HDR_LEN;
    unsigned i = 0;
    while (skip && i < c->nread) {
        if (c->iov[i].iov_len <= skip) {
            skip -= c->iov[i].iov_len;
            i++;
        } else {
            c->iov[i].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
            c->iov[i].iov_len -= skip;
            skip = 0;
        }
    }
    *n = c->nread - i;
    return &c->iov[i];
}

/* One TX chain; -1 if it was malformed (the device is then in NEEDS_RESET). */
static int tx_one(struct virtio_net *n, struct vq_chain *c)
{
    struct virtio_dev *d = &n->dev;
    /* The header is not checked: no offload feature is offered, so its fields have no
     * meaning here, and the frame is passed on as sent. */
    if (c->nwrite) {
        virtio_fail(d, "queue 1 (tx): chain at head %u has device-writable buffers", c->head);
        return -1;
    }
    if (c->read_len < VNET_HDR_LEN || c->read_len > VNET_CHAIN_MAX) {
        virtio_fail(d, "queue 1 (tx): chain at head %u is %llu bytes, outside %u..%u", c->head,
                    (unsigned long long)c->read_len, VNET_HDR_LEN, VNET_CHAIN_MAX);
        return -1;
    }
    uint64_t len = c->read_len - VNET_HDR_LEN;
    if (len == 0) {
        n->stats.tx_empty++;
        return 0;
    }
    unsigned nseg;
    struct iovec *frame = skip_header(c, &nseg);
    n->stats.tx_frames++;
    n->stats.tx_bytes += len;
    if (n->backend && n->backend->send)
        n->backend->send(n->backend_ctx, frame, nseg);
    return 0;
}

static bool tx_notify(struct virtio_net *n)
{
    struct virtio_dev *d = &n->dev;
    struct virtqueue *vq = &d->vq[VNET_TXQ];
    struct vq_chain c = {.iov = n->tx_iov, .cap = VNET_SEGS_MAX};
    unsigned done = 0;
    bool more = false;
    /* No kicks while we are draining the queue anyway. */
    vq_disable_notify(vq);
    for (;;) {
        int r = vq_pop(vq, &c);
        if (r < 0) {
            virtio_fail(d, "queue 1 (tx): %s", vq->error);
            return false;
        }
        if (r == 0) {
            if (!vq_enable_notify(vq))
                break;
            vq_disable_notify(vq);
            continue;
        }
        if (done == VNET_TX_BUDGET) {
            /* A driver that keeps refilling must not hold hv here: the chain waits, and
             * notifications stay off until the owner calls again. */
            vq_unpop(vq);
            more = true;
            break;
        }
        if (tx_one(n, &c) < 0)
            return false;
        /* The backend may have delivered into RX, and RX may have failed. */
        if (!virtio_live(d))
            return false;
        if (vq_push(vq, c.head, 0) < 0) {
            virtio_fail(d, "queue 1 (tx): %s", vq->error);
            return false;
        }
        done++;
    }
    if (done)
        virtio_queue_interrupt(d, VNET_TXQ);
    return more;
}

static bool net_queue_notify(struct virtio_dev *d, unsigned q)
{
    struct virtio_net *n = to_net(d);
    if (q == VNET_TXQ)
        return tx_notify(n);
    if (q == VNET_RXQ && n->backend && n->backend->rx_ready)
        n->backend->rx_ready(n->backend_ctx);
    return false;
}

static const struct virtio_dev_ops net_ops = {.queue_notify = net_queue_notify};

void virtio_net_init(struct virtio_net *n, const struct virtio_net_params *p,
                     const struct guest_mem *mem, const struct net_backend_ops *backend,
                     void *backend_ctx)
{
    uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
                        VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
                        VIRTIO_BIT(VIRTIO_NET_F_STATUS);
    if (p->mtu)
        features |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
    memset(n, 0, sizeof *n);
    virtio_init(&n->dev, "virtio-net", VIRTIO_ID_NET, features, 2, VNET_QUEUE_SIZE, &net_ops, mem);
    n->backend = backend;
    n->backend_ctx = backend_ctx;
    n->link_up = true;
    n->mtu = p->mtu;
    memcpy(n->dev.config, p->mac, 6);
    n->dev.config_size = VNET_CONFIG_LEN;
    fill_config(n);
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
    if (n->link_up == up)
        return;
    n->link_up = up;
    fill_config(n);
    virtio_config_changed(&n->dev);
}

/* Copies the header, then the frame, across the writable segments (already checked to hold
 * both). */
static void scatter(const struct iovec *iov, const uint8_t *hdr, const uint8_t *frame, size_t len)
{
    const uint8_t *src = hdr;
    size_t left = VNET_HDR_LEN;
    bool in_hdr = true;
    for (const struct iovec *v = iov; left; v++) {
        uint8_t *dst = v->iov_base;
        size_t room = v->iov_len;
        while (room && left) {
            size_t k = room < left ? room : left;
            memcpy(dst, src, k);
            dst += k;
            room -= k;
            src += k;
            left -= k;
            if (!left && in_hdr) {
                in_hdr = false;
                src = frame;
                left = len;
            }
        }
    }
}

enum vnet_rx virtio_net_receive(struct virtio_net *n, const void *frame, size_t len)
{
    struct virtio_dev *d = &n->dev;
    struct virtqueue *vq = &d->vq[VNET_RXQ];
    if (!virtio_live(d) || !vq->ready)
        return VNET_RX_NOT_READY;
    /* With VIRTIO_NET_F_MTU the driver sized its buffers for mtu plus an Ethernet header
     * with a VLAN tag, and must not be handed more (spec 5.1.6.3.2). */
    size_t max = virtio_has_feature(d, VIRTIO_NET_F_MTU) ? n->mtu + 18u : VNET_FRAME_MAX;
    if (len > max) {
        n->stats.rx_too_big++;
        return VNET_RX_TOO_BIG;
    }
    struct vq_chain c = {.iov = n->rx_iov, .cap = VNET_SEGS_MAX};
    int r = vq_pop(vq, &c);
    /* Out of buffers: ask to be told when the driver adds some, and look once more in case
     * it just did. */
    if (r == 0 && vq_enable_notify(vq))
        r = vq_pop(vq, &c);
    if (r < 0) {
        virtio_fail(d, "queue 0 (rx): %s", vq->error);
        return VNET_RX_BROKEN;
    }
    if (r == 0) {
        n->stats.rx_no_buffer++;
        return VNET_RX_NO_BUFFER;
    }
    if (c.nread) {
        virtio_fail(d, "queue 0 (rx): chain at head %u has device-readable buffers", c.head);
        return VNET_RX_BROKEN;
    }
    if (c.write_len < VNET_HDR_LEN + len) {
        /* Not malformed, just small: the buffer stays for a smaller frame. */
        vq_unpop(vq);
        n->stats.rx_too_big++;
        return VNET_RX_TOO_BIG;
    }
    /* flags 0, no GSO, num_buffers 1 (no mergeable buffers). */
    uint8_t hdr[VNET_HDR_LEN] = {0};
    put16(hdr + 10, 1);
    scatter(c.iov, hdr, frame, len);
    if (vq_push(vq, c.head, (uint32_t)(VNET_HDR_LEN + len)) < 0) {
        virtio_fail(d, "queue 0 (rx): %s", vq->error);
        return VNET_RX_BROKEN;
    }
    n->stats.rx_frames++;
    n->stats.rx_bytes += len;
    virtio_queue_interrupt(d, VNET_RXQ);
    return VNET_RX_DELIVERED;
}
