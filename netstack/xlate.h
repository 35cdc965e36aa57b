/* xlate.h: Linux <-> lwIP constants (errors, socket options); pure C over lwIP's err.h, so it is
 * unit-tested natively. */
#ifndef NETSTACK_XLATE_H
#define NETSTACK_XLATE_H

#include "lwip/err.h"
#include <stdint.h>

/* ---- errmap.c: err_t -> errno (pure: unit-tested natively) ---- */
/* A positive errno for an lwIP result other than ERR_OK. */
int ns_errno(err_t err);
/* The errno a TCP connection's error callback means: lwIP reports a refused connect as a
 * reset and every timeout (retransmission, SYN, keepalive) as an abort. */
int ns_tcp_errno(err_t err, int connecting);

/* ---- sockopt.c: which Linux options exist here (pure: unit-tested natively) ---- */
enum ns_opt {
    NSO_ERROR = 1,
    NSO_TYPE,
    NSO_DOMAIN,
    NSO_PROTOCOL,
    NSO_ACCEPTCONN,
    NSO_REUSEADDR,
    NSO_KEEPALIVE,
    NSO_BROADCAST,
    NSO_LINGER,
    NSO_RCVBUF,
    NSO_SNDBUF,
    NSO_RCVTIMEO,
    NSO_SNDTIMEO,
    NSO_TCP_NODELAY,
    NSO_TCP_KEEPIDLE,
    NSO_TCP_KEEPINTVL,
    NSO_TCP_KEEPCNT,
    NSO_TCP_MAXSEG,
    NSO_IP_TOS,
    NSO_IP_TTL,
    NSO_IPV6_V6ONLY,
    NSO_IPV6_UNICAST_HOPS,
};
/* The option (level, opt) names on a socket of `type` (SOCK_STREAM/SOCK_DGRAM) and `family`,
 * or -ENOPROTOOPT. */
int ns_opt_lookup(int level, int opt, int type, int family);
/* Whether the option can only be read (getsockopt). */
int ns_opt_readonly(int id);
/* An int option's value: 0, or -EINVAL when the buffer is too short (as Linux). */
long ns_opt_get_int(const void *val, unsigned len, int *out);
/* Copies an int option out, truncated to *len as Linux does. */
void ns_opt_put_int(void *val, unsigned *len, int v);
/* SO_RCVTIMEO/SO_SNDTIMEO: a struct timeval as ns (0: no timeout); -EINVAL or -EDOM. */
long ns_opt_get_timeval(const void *val, unsigned len, uint64_t *ns);
void ns_opt_put_timeval(void *val, unsigned *len, uint64_t ns);

#endif
