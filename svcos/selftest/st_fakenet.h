/* st_fakenet.h: a pretend Ethernet segment for the self-test's NIC check: a driver whose
 * "wire" leads to one scripted peer (ARP, ping, UDP echo, a DNS server, a closed TCP port). */
#ifndef SVCOS_ST_FAKENET_H
#define SVCOS_ST_FAKENET_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_OUR_IP      0x0a000901u /* 10.0.9.1: the interface under test */
#define FAKE_PEER_IP     0x0a000902u /* 10.0.9.2: the peer */
#define FAKE_DNS_ANSWER  0x0a090807u /* every A query gets 10.9.8.7 */
#define FAKE_ECHO_PORT   7           /* UDP echo */
#define FAKE_DNS_PORT    53
#define FAKE_CLOSED_PORT 80 /* TCP: answered with a reset */
#define FAKE_SILENT_PORT 81 /* TCP: a handshake, then the peer says nothing ever again */

extern const uint8_t fake_our_mac[6], fake_peer_mac[6];

/* What the peer saw the interface send. */
struct fake_seen {
    unsigned frames, arp_requests, arp_replies, ping_replies, udp, dns_queries, tcp_syns, ipv6;
    unsigned bad_checksums, unknown;
    uint16_t ping_id, ping_seq;
};
extern struct fake_seen fake_seen;

/* The driver's operations (struct netstack_nic_ops), with the peer behind them. */
int fake_transmit(void *drv, const void *frame, size_t len);
struct netstack_nic;
int fake_poll(void *drv, struct netstack_nic *nic, int budget);

/* Frames the peer sends on its own (queued; the next poll delivers them). */
void fake_send_arp_request(uint32_t target_ip);
void fake_send_ping(uint16_t id, uint16_t seq);
void fake_send_udp(uint16_t sport, uint16_t dport, const void *data, size_t len);

#endif
