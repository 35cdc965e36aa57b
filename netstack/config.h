/* config.h: the network configuration from the boot command line (ip=, gw=, dns=); pure C, no
 * lwIP or svcos, so it is unit-tested natively. */
#ifndef NETSTACK_CONFIG_H
#define NETSTACK_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define NETCFG_MAX_DNS 2

enum netcfg_mode {
    NETCFG_DHCP,   /* ip=dhcp, or no ip= at all */
    NETCFG_STATIC, /* ip=A.B.C.D/N */
    NETCFG_OFF,    /* ip=off or ip=none: the interface gets no IPv4 address */
};

struct net_config {
    enum netcfg_mode mode;
    uint32_t addr, netmask, gw; /* network byte order; gw 0: none */
    uint32_t dns[NETCFG_MAX_DNS];
    int ndns;
};

/* Parses the values of ip=, gw= and dns= (each NULL when absent; not NUL-terminated, with
 * their lengths, as svcos_cmdline_get returns them).  dns= is a comma-separated list.
 * Returns 0, or -1 with a message in err (and *c set to NETCFG_OFF). */
int netcfg_parse(struct net_config *c, const char *ip, size_t iplen, const char *gw, size_t gwlen,
                 const char *dns, size_t dnslen, char *err, size_t errlen);

/* The same from a string of words ("ip=10.0.9.1/24 gw=10.0.9.2 dns=10.0.9.3"); any other word
 * is an error. */
int netcfg_from_words(struct net_config *c, const char *words, char *err, size_t errlen);

/* A dotted quad (four decimal numbers 0-255, no leading zeros) in network byte order: 0 or -1. */
int netcfg_ipv4(const char *s, size_t len, uint32_t *out);

/* Formats a network-byte-order IPv4 address; returns buf. */
char *netcfg_ntoa(uint32_t addr, char buf[16]);

#endif
