/* hooks.h: lwIP hooks (LWIP_HOOK_FILENAME): initial TCP sequence numbers from netstack/isn.c. */
#ifndef NETSTACK_HOOKS_H
#define NETSTACK_HOOKS_H

#include "lwip/ip_addr.h"

/* RFC 6528: a keyed hash of the connection plus a 4 us clock, instead of lwIP's guessable
 * counter. */
u32_t netstack_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                       u16_t remote_port);
#define LWIP_HOOK_TCP_ISN netstack_tcp_isn

#endif
