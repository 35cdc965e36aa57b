/* backends.h: the host sides a card can have (devices/nic.h's interface). */
#ifndef HV_NET_BACKENDS_H
#define HV_NET_BACKENDS_H

#include "devices/nic.h"

extern const struct nic_backend_ops nic_slirp_backend; /* net/slirp_backend.c */
extern const struct nic_backend_ops nic_tap_backend;   /* net/tap_backend.c */

#endif
