/* lwipopts.h: lwIP 2.1.3's configuration for svcos: NO_SYS raw API, sized for >= 100 MB/s TCP.
 * docs/netstack.md explains each choice. */
#ifndef NETSTACK_LWIPOPTS_H
#define NETSTACK_LWIPOPTS_H

/* ---- System: one thread, no interrupts; svcos's event loop drives lwIP ---- */
#define NO_SYS               1
#define SYS_LIGHTWEIGHT_PROT 0 /* nothing can preempt lwIP */
#define LWIP_NETCONN         0 /* svcos's own sockets sit on the raw API */
#define LWIP_SOCKET          0
#define LWIP_TIMERS          1
#define LWIP_HOOK_FILENAME   "hooks.h"

/* ---- Memory ---- */
/* The heap (PBUF_RAM pbufs: every TCP segment, every received frame) is svcos's kmalloc,
 * behind a byte cap (netstack/mem.c), so windows are not limited by a static pool.  The
 * fixed-size objects stay in lwIP's static pools: their counts bound what a peer can make
 * us allocate, and a full PCB pool recycles TIME_WAIT connections. */
#define MEM_LIBC_MALLOC         1
#define mem_clib_malloc         netstack_mem_alloc
#define mem_clib_calloc         netstack_mem_calloc
#define mem_clib_free           netstack_mem_free
#define MEM_ALIGNMENT           8
#define MEMP_MEM_MALLOC         0
#define MEMP_NUM_TCP_PCB        512
#define MEMP_NUM_TCP_PCB_LISTEN 32
#define MEMP_NUM_TCP_SEG        4096
#define MEMP_NUM_UDP_PCB        64
#define MEMP_NUM_PBUF           256 /* PBUF_REF/ROM headers */
#define MEMP_NUM_REASSDATA      16
#define MEMP_NUM_FRAG_PBUF      64
#define MEMP_NUM_ARP_QUEUE      64
/* Received frames are copied into heap pbufs (netstack/nic.c): a fixed pool would cap the
 * data all sockets together may leave unread, and lwIP's core never asks for PBUF_POOL. */
#define PBUF_POOL_SIZE    0
#define PBUF_POOL_BUFSIZE 1536

/* ---- Interfaces ---- */
#define LWIP_SINGLE_NETIF            0
#define LWIP_HAVE_LOOPIF             1 /* 127.0.0.1 and ::1 */
#define LWIP_NETIF_LOOPBACK          1 /* traffic to our own addresses */
#define LWIP_LOOPBACK_MAX_PBUFS      0 /* bounded by TCP windows, not by a drop */
#define LWIP_NETIF_STATUS_CALLBACK   1 /* DHCP results reach /etc/resolv.conf */
#define LWIP_NETIF_LINK_CALLBACK     1
#define LWIP_NETIF_HOSTNAME          1 /* DHCP tells the server our name */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1 /* none on loopback, as Linux's lo */
#define LWIP_ETHERNET                1
#define LWIP_ARP                     1
#define ARP_TABLE_SIZE               32
#define ARP_QUEUEING                 1
#define ETH_PAD_SIZE                 0

/* ---- IPv4 ---- */
#define LWIP_IPV4             1
#define IP_FORWARD            0
#define IP_REASSEMBLY         1 /* large DNS answers over UDP */
#define IP_FRAG               1
#define IP_REASS_MAX_PBUFS    64
#define IP_SOF_BROADCAST      1 /* sending to broadcast needs SO_BROADCAST, as on Linux */
#define IP_SOF_BROADCAST_RECV 0 /* receiving does not, as on Linux */
#define LWIP_ICMP             1
#define LWIP_BROADCAST_PING   0
#define LWIP_RAW              0 /* no raw sockets */
#define LWIP_DHCP             1
#define DHCP_DOES_ARP_CHECK   1
#define LWIP_AUTOIP           0
#define LWIP_IGMP             0 /* no multicast sockets */

/* ---- IPv6 (dual-stack sockets; link-local and SLAAC addresses, no DHCPv6) ---- */
#define LWIP_IPV6            1
#define LWIP_IPV6_SCOPES     0 /* no sin6_scope_id: one Ethernet link */
#define LWIP_IPV6_AUTOCONFIG 1
#define LWIP_IPV6_MLD                                                                              \
    0 /* solicited-node traffic is accepted without it, and                                        \
         its 100 ms timer would wake the VM ten times a second */
#define LWIP_IPV6_DHCP6                0
#define LWIP_IPV6_REASS                1
#define IPV6_FRAG_COPYHEADER           1 /* 64-bit pointers do not fit in the header */
#define LWIP_IPV6_FRAG                 1
#define LWIP_ICMP6                     1
#define LWIP_ND6_RDNSS_MAX_DNS_SERVERS 0

/* ---- UDP ---- */
#define LWIP_UDP         1
#define LWIP_UDPLITE     0
#define SO_REUSE         1
#define SO_REUSE_RXTOALL 0

/* ---- TCP ---- */
#define LWIP_TCP 1
/* The largest segment over any interface: lwIP sends and advertises min(TCP_MSS, MTU - 40) per
 * interface, so an Ethernet card still gets 1460 while hv's card with a large MTU (the service
 * VM's default, docs/netstack.md) moves bulk data in few frames, each one exit and one copy. */
#define TCP_MSS 15360 /* lwIP's sanity check wants 4 * TCP_MSS + TCP_SNDLOWAT below 64 Ki */
/* Window scaling: a 256 KiB window keeps 100 MB/s flowing up to 2.5 ms of round trip. */
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE  3 /* up to 512 KiB */
#define TCP_WND        (256 * 1024)
#define TCP_SND_BUF    (256 * 1024)
/* Reading this much reopens the window with an update; lwIP's default, min(TCP_WND / 4,
 * 4 * TCP_MSS), is 61440 with our MSS, and a peer without window scaling (slirp) has only
 * 65535 bytes of window: updates almost never went out and uploads stalled for seconds. */
#define TCP_WND_UPDATE_THRESHOLD (4 * 1460)
/* Counted in pbufs, sized for Ethernet segments whatever TCP_MSS allows. */
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + 1460 - 1) / 1460)
/* Only lwIP's own socket layer reads this (tcp_sock.c has its threshold); lwIP's sanity
 * check still wants it below 64 KiB. */
#define TCP_SNDLOWAT 2048
/* Room added to a small write's pbuf for the next one: Ethernet-sized, not TCP_MSS (a 100-byte
 * write would otherwise take 64 KiB of the heap). */
#define TCP_OVERSIZE               1460
#define TCP_QUEUE_OOSEQ            1
#define TCP_OOSEQ_MAX_BYTES        TCP_WND
#define TCP_OOSEQ_MAX_PBUFS        256
#define LWIP_TCP_SACK_OUT          1
#define LWIP_TCP_MAX_SACK_NUM      4
#define LWIP_TCP_TIMESTAMPS        0
#define TCP_LISTEN_BACKLOG         1
#define TCP_DEFAULT_LISTEN_BACKLOG 128
#define LWIP_TCP_KEEPALIVE         1       /* per-socket TCP_KEEPIDLE/KEEPINTVL/KEEPCNT */
#define TCP_MSL                    30000UL /* TIME_WAIT = 2 MSL = 60 s, as on Linux */
#define LWIP_CALLBACK_API          1
#define LWIP_EVENT_API             0
#define LWIP_TCP_PCB_NUM_EXT_ARGS  0

/* ---- Checksums: generated and checked in software on every Ethernet interface (per-interface
 * control turns them off on loopback); computed at output, not while copying, so loopback
 * traffic pays nothing ---- */
#define LWIP_CHECKSUM_ON_COPY 0
#define CHECKSUM_GEN_IP       1
#define CHECKSUM_GEN_UDP      1
#define CHECKSUM_GEN_TCP      1
#define CHECKSUM_GEN_ICMP     1
#define CHECKSUM_GEN_ICMP6    1
#define CHECKSUM_CHECK_IP     1
#define CHECKSUM_CHECK_UDP    1
#define CHECKSUM_CHECK_TCP    1
#define CHECKSUM_CHECK_ICMP   1
#define CHECKSUM_CHECK_ICMP6  1

/* ---- DNS: lwIP keeps the servers DHCP announces; programs resolve with musl's resolver over
 * UDP sockets, to the servers netstack writes into /etc/resolv.conf ---- */
#define LWIP_DNS                  1
#define DNS_MAX_SERVERS           2
#define DNS_TABLE_SIZE            2
#define LWIP_DHCP_MAX_DNS_SERVERS DNS_MAX_SERVERS

/* ---- Statistics: the self-test counts pbufs and PCBs through them ---- */
#define LWIP_STATS         1
#define LWIP_STATS_DISPLAY 0
#define MEM_STATS          1
#define MEMP_STATS         1
#define LINK_STATS         1
#define ETHARP_STATS       1
#define IP_STATS           1
#define IPFRAG_STATS       1
#define ICMP_STATS         1
#define UDP_STATS          1
#define TCP_STATS          1
#define SYS_STATS          0
#define IP6_STATS          1
#define ICMP6_STATS        1
#define IP6_FRAG_STATS     1
#define ND6_STATS          1
#define MLD6_STATS         0
#define MIB2_STATS         0

/* Heap functions behind mem_clib_* (netstack/mem.c) and the checksum (netstack/chksum.c). */
#include <stddef.h>
#include <stdint.h>
uint16_t netstack_chksum(const void *data, int len);
void *netstack_mem_alloc(size_t size);
void *netstack_mem_calloc(size_t count, size_t size);
void netstack_mem_free(void *p);

#endif
