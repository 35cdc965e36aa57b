/* nic_config.h: hv's --net argument read into a card's configuration, and the service VM's
 * default (user mode, restricted). */
#ifndef HV_NIC_CONFIG_H
#define HV_NIC_CONFIG_H

#include "devices/nic.h"

#include <stdbool.h>
#include <stddef.h>

#define NIC_DEFAULT_MTU 1500u
/* The service VM's user network, unless mtu= says otherwise: slirp has no wire to match, and
 * large frames carry bulk TCP in a tenth of the exits and copies (docs/virtio-net.md). */
#define NIC_SERVICE_USER_MTU 16384u
#define NIC_MAX_MTU          65520u /* slirp's largest if_mtu; also what TAP takes here */
#define NIC_MIN_MTU          68u

/*
 * Reads one --net argument:
 *   none
 *   user[,restrict=on|off][,hostfwd=[tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT]...
 *       [,guestfwd=tcp:ADDR:PORT-HOST:PORT]...[,mac=..][,mtu=N]
 *   tap,ifname=NAME[,mac=..][,mtu=N]
 * `service`: the card is the service VM's, whose user network is restricted unless told
 * otherwise.  0, or -1 with a message naming the part refused.
 */
int nic_config_parse(struct nic_config *c, const char *spec, bool service, char *err,
                     size_t errlen);
/* The service VM's card when its command line names none: "user", restricted. */
const struct nic_config *nic_config_service_default(void);

#endif
