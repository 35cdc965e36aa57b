/* netstack.h: what programs and network-device drivers linked with the netstack may ask it
 * directly (beyond the socket system calls): counters, and polled network interfaces. */
#ifndef NETSTACK_PUBLIC_H
#define NETSTACK_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

/* Programs that also run natively declare these weak and test for NULL. */

/* ---- Counters (the self-test's leak checks) ---- */
struct netstack_stats {
    uint64_t heap_bytes;  /* lwIP's heap in use: PBUF_RAM pbufs (every segment and frame) */
    uint64_t heap_blocks; /* ... as allocations */
    uint64_t heap_peak, heap_limit, heap_failures;
    uint32_t pbuf_pool;    /* PBUF_POOL pbufs in use */
    uint32_t pbuf_ref;     /* PBUF_REF/ROM pbuf headers in use */
    uint32_t tcp_pcbs;     /* TCP PCBs in use, TIME_WAIT ones not counted */
    uint32_t tcp_timewait; /* TCP PCBs in TIME_WAIT (lwIP's alone; they expire) */
    uint32_t tcp_listen;   /* listening PCBs */
    uint32_t tcp_segs;     /* queued TCP segments */
    uint32_t udp_pcbs;
    uint32_t sockets;             /* socket objects, including connections waiting for accept() */
    uint64_t tcp_drop, link_drop; /* segments and frames dropped */
};
void netstack_get_stats(struct netstack_stats *st);

/* ---- Network interfaces: a driver fills the operations; nothing is interrupt-driven ---- */
struct netstack_nic;
struct netstack_nic_ops {
    /* Sends one Ethernet frame (destination MAC first, no FCS, at most mtu + 14 bytes).
     * Returns 0, or a negative errno when the device cannot take it now: the frame is then
     * dropped (TCP resends), so a driver should reclaim finished transmissions first. */
    int (*transmit)(void *drv, const void *frame, size_t len);
    /* Passes up to `budget` received frames to netstack_nic_input; returns how many. */
    int (*poll)(void *drv, struct netstack_nic *nic, int budget);
    /* Optional: the end of a burst of transmit calls.  A driver may hold back the device's
     * notification until here (one wake-up of hv's card thread per burst, not per frame). */
    void (*flush)(void *drv);
};
struct netstack_nic_info {
    const struct netstack_nic_ops *ops;
    void *drv;
    uint8_t mac[6];
    uint16_t mtu;       /* the IP MTU: 1500 for Ethernet */
    uint64_t hv_events; /* hv events meaning frames are waiting (WAIT wakes on them); 0: none */
    int rx_csum_ok;     /* the device verified received checksums: lwIP skips checking */
};
/* Adds an interface, up, configured by `config` ("ip=A.B.C.D/N gw=... dns=...", "ip=dhcp",
 * "ip=off"), or by the boot command line's ip=, gw= and dns= words when NULL.  The first
 * interface is the default route.  Returns NULL if the configuration is invalid (the reason
 * is logged) or memory is short. */
struct netstack_nic *netstack_add_nic(const struct netstack_nic_info *info, const char *config);
/* A received Ethernet frame (copied: the driver keeps its buffer). */
void netstack_nic_input(struct netstack_nic *nic, const void *frame, size_t len);
/* Link state changes (carrier); interfaces start with the link up. */
void netstack_nic_link(struct netstack_nic *nic, int up);
/* The interface's IPv4 address and prefix length (0.0.0.0/0 until configured), network order. */
void netstack_nic_ipv4(struct netstack_nic *nic, uint32_t *addr, int *prefix);

#endif
