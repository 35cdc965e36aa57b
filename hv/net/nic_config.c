/* nic_config.c: parses --net strictly (every option known, every number in range, every
 * address an address), so that a typo stops hv at start-up rather than leaving a VM offline. */
#include "net/nic_config.h"

#include "base/log.h"
#include "net/backends.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* slirp's fixed network: 10.0.2.0/24, hv's router at .2, DNS at .3, DHCP from .15. */
#define USER_NET     0x0a000200u
#define USER_MASK    0xffffff00u
#define USER_ROUTER  0x0a000202u
#define USER_DNS     0x0a000203u
#define USER_DHCP_LO 0x0a00020fu

static const uint8_t default_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static int parse_port(const char *s, size_t n, uint16_t *port)
{
    char buf[8];
    if (!n || n >= sizeof buf || strspn(s, "0123456789") < n)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    unsigned long v = strtoul(buf, NULL, 10);
    if (v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* An IPv4 address of n bytes; empty gives `dflt`. */
static int parse_addr(const char *s, size_t n, uint32_t dflt, struct in_addr *a)
{
    char buf[INET_ADDRSTRLEN];
    if (!n) {
        a->s_addr = htonl(dflt);
        return 0;
    }
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, a) == 1 ? 0 : -1;
}

/* "ADDR:PORT" (ADDR may be empty) from s[0..n). */
static int parse_endpoint(const char *s, size_t n, uint32_t dflt, struct in_addr *a, uint16_t *port)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return -1;
    size_t alen = (size_t)(colon - s);
    return parse_addr(s, alen, dflt, a) < 0 || parse_port(colon + 1, n - alen - 1, port) < 0 ? -1
                                                                                             : 0;
}

/* hostfwd=[tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT; the host side defaults to 127.0.0.1:
 * a forward open to every interface is asked for with 0.0.0.0. */
static int parse_hostfwd(struct nic_config *c, const char *v, char *err, size_t errlen)
{
    if (c->nhostfwd == NIC_FWD_MAX)
        return hv_fail(err, errlen, "hostfwd=%s: too many (at most 8)", v);
    struct nic_hostfwd *f = &c->hostfwd[c->nhostfwd];
    *f = (struct nic_hostfwd){0};
    const char *spec = v;
    if (!strncmp(v, "udp:", 4))
        f->udp = true, v += 4;
    else if (!strncmp(v, "tcp:", 4))
        v += 4;
    const char *dash = strchr(v, '-');
    if (!dash ||
        parse_endpoint(v, (size_t)(dash - v), 0x7f000001u, &f->host_addr, &f->host_port) < 0 ||
        parse_endpoint(dash + 1, strlen(dash + 1), 0, &f->guest_addr, &f->guest_port) < 0)
        return hv_fail(
            err, errlen,
            "hostfwd=%s: want [tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT (ports 1-65535)", spec);
    c->nhostfwd++;
    return 0;
}

/* guestfwd=tcp:ADDR:PORT-HOST:PORT: ADDR a free address of the guest's network. */
static int parse_guestfwd(struct nic_config *c, const char *v, char *err, size_t errlen)
{
    if (c->nguestfwd == NIC_FWD_MAX)
        return hv_fail(err, errlen, "guestfwd=%s: too many (at most 8)", v);
    struct nic_guestfwd *g = &c->guestfwd[c->nguestfwd];
    *g = (struct nic_guestfwd){0};
    const char *spec = v;
    if (!strncmp(v, "tcp:", 4))
        v += 4;
    const char *dash = strchr(v, '-');
    const char *hcolon = dash ? strrchr(dash + 1, ':') : NULL;
    if (!dash || !hcolon || parse_endpoint(v, (size_t)(dash - v), 0, &g->addr, &g->port) < 0 ||
        parse_port(hcolon + 1, strlen(hcolon + 1), &g->host_port) < 0 ||
        (size_t)(hcolon - dash - 1) >= sizeof g->host || hcolon == dash + 1)
        return hv_fail(err, errlen, "guestfwd=%s: want tcp:ADDR:PORT-HOST:PORT", spec);
    memcpy(g->host, dash + 1, (size_t)(hcolon - dash - 1));
    uint32_t a = ntohl(g->addr.s_addr);
    if ((a & USER_MASK) != USER_NET || a == USER_ROUTER || a == USER_DNS || a == USER_DHCP_LO ||
        (a & 0xff) == 0 || (a & 0xff) == 0xff)
        return hv_fail(err, errlen,
                       "guestfwd=%s: ADDR must be a free address of 10.0.2.0/24 (not .2, .3, .15)",
                       spec);
    c->nguestfwd++;
    return 0;
}

static int parse_mac(uint8_t mac[6], const char *v)
{
    unsigned b[6];
    char tail;
    if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) !=
        6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return mac[0] & 1 ? -1 : 0; /* a multicast address is no card's */
}

static int parse_option(struct nic_config *c, char *opt, char *err, size_t errlen)
{
    char *eq = strchr(opt, '=');
    if (!eq)
        return hv_fail(err, errlen, "\"%s\": want NAME=VALUE", opt);
    *eq = 0;
    const char *k = opt, *v = eq + 1;
    bool user = c->kind == NIC_USER, tap = c->kind == NIC_TAP;
    if (!strcmp(k, "mac")) {
        if (parse_mac(c->mac, v) < 0)
            return hv_fail(err, errlen,
                           "mac=%s: want six hex bytes, e.g. 52:54:00:12:34:56 (unicast)", v);
    } else if (!strcmp(k, "mtu")) {
        char *end;
        errno = 0;
        unsigned long m = strtoul(v, &end, 10);
        if (errno || end == v || *end || m < NIC_MIN_MTU || m > NIC_MAX_MTU)
            return hv_fail(err, errlen, "mtu=%s: want 68 to 65520", v);
        c->mtu = (uint16_t)m;
    } else if (user && !strcmp(k, "restrict")) {
        if (strcmp(v, "on") && strcmp(v, "off"))
            return hv_fail(err, errlen, "restrict=%s: want on or off", v);
        c->restricted = !strcmp(v, "on");
    } else if (user && !strcmp(k, "hostfwd")) {
        return parse_hostfwd(c, v, err, errlen);
    } else if (user && !strcmp(k, "guestfwd")) {
        return parse_guestfwd(c, v, err, errlen);
    } else if (tap && !strcmp(k, "ifname")) {
        if (!*v || strlen(v) >= sizeof c->ifname || strchr(v, '/'))
            return hv_fail(err, errlen, "ifname=%s: want 1-15 characters, no '/'", v);
        snprintf(c->ifname, sizeof c->ifname, "%s", v);
    } else {
        *eq = '=';
        return hv_fail(err, errlen, "\"%s\": not an option of this kind of network", opt);
    }
    return 0;
}

int nic_config_parse(struct nic_config *c, const char *spec, bool service, char *err, size_t errlen)
{
    *c = (struct nic_config){.restricted = service}; /* mtu 0 until mtu= or the default */
    memcpy(c->mac, default_mac, sizeof c->mac);
    if (strlen(spec) >= sizeof c->spec)
        return hv_fail(err, errlen, "too long");
    snprintf(c->spec, sizeof c->spec, "%s", spec);
    char buf[NIC_SPEC_MAX];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL, *kind = strtok_r(buf, ",", &save);
    if (!kind)
        return hv_fail(err, errlen, "empty: want none, user[,...] or tap,ifname=NAME[,...]");
    if (!strcmp(kind, "none"))
        c->kind = NIC_NONE;
    else if (!strcmp(kind, "user"))
        c->kind = NIC_USER, c->backend = &nic_slirp_backend;
    else if (!strcmp(kind, "tap"))
        c->kind = NIC_TAP, c->backend = &nic_tap_backend;
    else
        return hv_fail(err, errlen, "\"%s\": want none, user or tap", kind);
    for (char *opt; (opt = strtok_r(NULL, ",", &save));) {
        if (c->kind == NIC_NONE)
            return hv_fail(err, errlen, "\"%s\": none takes no options", opt);
        if (parse_option(c, opt, err, errlen) < 0)
            return -1;
    }
    if (c->kind == NIC_TAP && !c->ifname[0])
        return hv_fail(err, errlen, "tap needs ifname=NAME");
    if (!c->mtu)
        c->mtu = service && c->kind == NIC_USER ? NIC_SERVICE_USER_MTU : NIC_DEFAULT_MTU;
    return 0;
}

static struct nic_config service_default;
static pthread_once_t service_default_once = PTHREAD_ONCE_INIT;

static void make_service_default(void)
{
    char err[128];
    if (nic_config_parse(&service_default, "user", true, err, sizeof err) < 0)
        abort(); /* a constant that parses */
}

const struct nic_config *nic_config_service_default(void)
{
    pthread_once(&service_default_once, make_service_default);
    return &service_default;
}
