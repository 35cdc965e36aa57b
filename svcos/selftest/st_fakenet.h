/* st_fakenet.h: pretend Ethernet segments for the self-test's NIC check: a driver whose "wire"
 * leads to one scripted peer (ARP, ping, UDP echo, DNS and DHCP servers, two TCP ports). */
#ifndef SVCOS_ST_FAKENET_H
#define SVCOS_ST_FAKENET_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_DNS_ANSWER  0x0a090807u /* every A query gets 10.9.8.7 */
#define FAKE_ECHO_PORT   7           /* UDP echo */
#define FAKE_DNS_PORT    53
#define FAKE_CLOSED_PORT 80 /* TCP: answered with a reset */
#define FAKE_SILENT_PORT 81 /* TCP: a handshake, then the peer says nothing ever again */

/* What the peer saw the interface send. */
struct fake_seen {
    unsigned frames, arp_requests, arp_replies, ping_replies, udp, dns_queries, tcp_syns, ipv6;
    unsigned dhcp_discovers, dhcp_requests, bad_checksums, unknown;
    uint16_t ping_id, ping_seq;
};

/* One segment: the interface under test and its peer.  With offer_ip set the peer is also a
 * DHCP server offering it (netmask /24, the peer as router and DNS server). */
struct fakenet {
    uint8_t our_mac[6], peer_mac[6];
    uint32_t our_ip, peer_ip, offer_ip;
    struct fake_seen seen;
    struct {
        uint8_t data[1514];
        size_t len;
    } rxq[32];
    unsigned rx_head, rx_count;
};

/* The driver's operations (struct netstack_nic_ops); drv is the struct fakenet. */
int fake_transmit(void *drv, const void *frame, size_t len);
struct netstack_nic;
int fake_poll(void *drv, struct netstack_nic *nic, int budget);

/* Frames the peer sends on its own (queued; the next poll delivers them). */
void fake_send_arp_request(struct fakenet *n, uint32_t target_ip);
void fake_send_ping(struct fakenet *n, uint16_t id, uint16_t seq);
void fake_send_udp(struct fakenet *n, uint16_t sport, uint16_t dport, const void *data, size_t len);

#endif
