/* nic.h: a VM's network card as hv's command line describes it (--net), and the interface its
 * host side (a backend: slirp, TAP, in net/) offers the device that drives it. */
#ifndef HV_NIC_H
#define HV_NIC_H

#include "devices/virtio_net.h"

#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NIC_FWD_MAX  8   /* hostfwd= and guestfwd= entries each */
#define NIC_HOST_MAX 64  /* a guestfwd target's host name */
#define NIC_SPEC_MAX 512 /* the --net argument as given */

enum nic_kind {
    NIC_NONE, /* no card */
    NIC_USER, /* libslirp: a NATed network of its own, hv as its router */
    NIC_TAP,  /* a host TAP interface */
};

/* A host port forwarded to the guest: host_addr:host_port -> guest_addr:guest_port. */
struct nic_hostfwd {
    bool udp;
    struct in_addr host_addr, guest_addr; /* guest_addr 0: the address DHCP hands out */
    uint16_t host_port, guest_port;
};

/* A virtual address:port in the guest's network that reaches host:host_port (TCP). */
struct nic_guestfwd {
    struct in_addr addr;
    uint16_t port;
    char host[NIC_HOST_MAX];
    uint16_t host_port;
};

struct nic_backend_ops;

struct nic_config {
    enum nic_kind kind;
    const struct nic_backend_ops *backend; /* NULL for NIC_NONE */
    char spec[NIC_SPEC_MAX];               /* as given, for messages */
    uint8_t mac[6];
    uint16_t mtu;    /* offered to the driver (VIRTIO_NET_F_MTU) and used by the backend */
    bool restricted; /* user: the guest reaches hv's DHCP and its guestfwd addresses only */
    uint32_t nhostfwd, nguestfwd;
    struct nic_hostfwd hostfwd[NIC_FWD_MAX];
    struct nic_guestfwd guestfwd[NIC_FWD_MAX];
    char ifname[IFNAMSIZ]; /* tap */
};

/* The device's end, which the backend hands received frames to. */
struct nic_port {
    /* Offers the guest one Ethernet frame; on the device's thread only (see below). */
    enum vnet_rx (*receive)(void *dev, const void *frame, size_t len);
    void *dev;
};

/*
 * A backend.  The device runs one thread per card that polls the device's eventfds and the
 * backend's descriptors together, and every call below except open and close is made on it,
 * so a backend that is not thread-safe (libslirp) needs no lock: frames the guest sends reach
 * `send` straight from its virtqueue, on that thread.  open runs before the thread starts,
 * close after it ended.
 */
struct nic_backend_ops {
    const char *name;
    int (*open)(const struct nic_config *cfg, const char *vm_name, struct nic_port port, void **ctx,
                char *err, size_t errlen);
    void (*close)(void *ctx);
    /* The descriptors to wait for next (at most max; events set, revents cleared), and the
     * time to wake at the latest: *timeout_ms may only be lowered (-1: none yet). */
    unsigned (*poll_fill)(void *ctx, struct pollfd *fds, unsigned max, int *timeout_ms);
    /* After the wait: the same descriptors with their revents (also after a timeout). */
    void (*poll_done)(void *ctx, const struct pollfd *fds, unsigned n);
    /* A frame the guest sent (segments of guest memory, valid during the call only). */
    void (*send)(void *ctx, const struct iovec *iov, unsigned n);
    /* The guest posted receive buffers: a frame refused for want of one may be offered again. */
    void (*rx_ready)(void *ctx);
    /* The host side holds connections on the guest's behalf (slirp's forwards): when the machine
     * behind the card is rebuilt (a reset, the service VM's restart) the device closes and
     * opens it again on its thread, so that host peers of the old machine see their
     * connections closed instead of waiting on a stack that no longer knows them. */
    bool reopen_on_reset;
};

#endif
