/* guestfwd_relay.h: one guestfwd's host side: slirp connects a Unix socket per guest connection
 * to the virtual address, and the relay carries each to the configured HOST:PORT over TCP. */
#ifndef HV_GUESTFWD_RELAY_H
#define HV_GUESTFWD_RELAY_H

#include "devices/nic.h"

#include <poll.h>
#include <stddef.h>

struct relay;

/* Listens on the Unix socket `path` (which must not exist) and resolves g->host now, so that a
 * bad name stops hv at start-up.  0, or -1 with err. */
int relay_open(struct relay **out, const struct nic_guestfwd *g, const char *path, char *err,
               size_t errlen);
/* The descriptors to wait for (at most max). */
unsigned relay_fill(struct relay *r, struct pollfd *fds, unsigned max);
/* After the wait, with the descriptors relay_fill gave. */
void relay_done(struct relay *r, const struct pollfd *fds, unsigned n);
/* Closes every connection and the listener, and removes its path. */
void relay_close(struct relay *r);

#endif
