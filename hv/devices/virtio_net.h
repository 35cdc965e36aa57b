/* virtio_net.h: a virtio-net device (one rx/tx queue pair) independent of its transport. */
#ifndef HV_VIRTIO_NET_H
#define HV_VIRTIO_NET_H

#include "devices/virtio.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTIO_ID_NET 1

/* Device feature bits (spec 5.1.3). */
#define VIRTIO_NET_F_MTU    3
#define VIRTIO_NET_F_MAC    5
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1

#define VNET_RXQ        0
#define VNET_TXQ        1
#define VNET_QUEUE_SIZE 256u
#define VNET_HDR_LEN    12u    /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define VNET_CHAIN_MAX  65562u /* largest TX chain: the header and a 65550-byte frame */
#define VNET_FRAME_MAX  (VNET_CHAIN_MAX - VNET_HDR_LEN)
#define VNET_SEGS_MAX   VNET_QUEUE_SIZE /* segments in one chain */
#define VNET_TX_BUDGET  VNET_QUEUE_SIZE /* frames per notify before yielding */
#define VNET_CONFIG_LEN 12u             /* mac[6], status, max_virtqueue_pairs, mtu */

/* Where frames go and come from: TAP, slirp, a test. */
struct net_backend_ops {
    /* A frame the guest sent, virtio_net_hdr removed, as n segments of guest memory.  They
     * are valid during the call only and the guest may change them meanwhile: a backend
     * that parses the frame copies it first (writev to a TAP or slirp_input do). */
    void (*send)(void *ctx, const struct iovec *iov, unsigned n);
    /* The driver added receive buffers: a frame refused with VNET_RX_NO_BUFFER may be
     * offered again (optional). */
    void (*rx_ready)(void *ctx);
};

struct virtio_net_params {
    uint8_t mac[6];
    uint16_t mtu; /* 0: VIRTIO_NET_F_MTU not offered */
};

struct vnet_stats {
    uint64_t tx_frames, tx_bytes, tx_empty;
    uint64_t rx_frames, rx_bytes, rx_no_buffer, rx_too_big;
};

struct virtio_net {
    struct virtio_dev dev; /* what transports see */
    const struct net_backend_ops *backend;
    void *backend_ctx;
    bool link_up;
    uint16_t mtu;
    struct vnet_stats stats;
    /* One chain each: a backend may deliver a reply from inside send (slirp answers ARP
     * so), and that receive must not overwrite the frame being sent. */
    struct iovec tx_iov[VNET_SEGS_MAX];
    struct iovec rx_iov[VNET_SEGS_MAX];
};

/* The outcome of offering the guest a frame. */
enum vnet_rx {
    VNET_RX_DELIVERED,
    VNET_RX_NOT_READY, /* no driver running (or NEEDS_RESET): dropped */
    VNET_RX_NO_BUFFER, /* no receive buffer: retry after rx_ready, or drop */
    VNET_RX_TOO_BIG,   /* larger than the MTU or the buffer at hand: dropped */
    VNET_RX_BROKEN,    /* the receive queue was malformed: the device needs a reset */
};

void virtio_net_init(struct virtio_net *n, const struct virtio_net_params *p,
                     const struct guest_mem *mem, const struct net_backend_ops *backend,
                     void *backend_ctx);
/* Offers the guest one frame (Ethernet header on, no virtio_net_hdr). */
enum vnet_rx virtio_net_receive(struct virtio_net *n, const void *frame, size_t len);
/* The link state the driver sees in config status; a change notifies it. */
void virtio_net_set_link(struct virtio_net *n, bool up);

#endif
