/* config.c: parses ip=, gw= and dns= from the boot command line into a struct net_config. */
#include "config.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int bad(struct net_config *c, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(struct net_config *c, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    memset(c, 0, sizeof *c);
    c->mode = NETCFG_OFF;
    return -1;
}

static uint32_t host_order(uint32_t be)
{
    const unsigned char *b = (const unsigned char *)&be;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static uint32_t net_order(uint32_t h)
{
    uint32_t be;
    unsigned char *b = (unsigned char *)&be;
    b[0] = (unsigned char)(h >> 24);
    b[1] = (unsigned char)(h >> 16);
    b[2] = (unsigned char)(h >> 8);
    b[3] = (unsigned char)h;
    return be;
}

int netcfg_ipv4(const char *s, size_t len, uint32_t *out)
{
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part && (i >= len || s[i++] != '.'))
            return -1;
        size_t start = i;
        unsigned n = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
            n = n * 10 + (unsigned)(s[i++] - '0');
        /* Leading zeros are refused: inet_aton would read them as octal. */
        if (i == start || n > 255 || (s[start] == '0' && i - start > 1))
            return -1;
        v = v << 8 | n;
    }
    if (i != len)
        return -1;
    *out = net_order(v);
    return 0;
}

char *netcfg_ntoa(uint32_t addr, char buf[16])
{
    uint32_t h = host_order(addr);
    snprintf(buf, 16, "%u.%u.%u.%u", h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255);
    return buf;
}

static int word_is(const char *s, size_t len, const char *w)
{
    return len == strlen(w) && memcmp(s, w, len) == 0;
}

static int parse_static(struct net_config *c, const char *ip, size_t iplen, char *err,
                        size_t errlen)
{
    const char *slash = memchr(ip, '/', iplen);
    if (!slash)
        return bad(c, err, errlen, "ip=%.*s: give the prefix length, e.g. ip=10.0.2.15/24",
                   (int)iplen, ip);
    uint32_t a;
    if (netcfg_ipv4(ip, (size_t)(slash - ip), &a) < 0)
        return bad(c, err, errlen, "ip=%.*s: not an IPv4 address", (int)iplen, ip);
    const char *p = slash + 1, *end = ip + iplen;
    unsigned prefix = 0;
    if (p == end || end - p > 2)
        return bad(c, err, errlen, "ip=%.*s: bad prefix length", (int)iplen, ip);
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return bad(c, err, errlen, "ip=%.*s: bad prefix length", (int)iplen, ip);
        prefix = prefix * 10 + (unsigned)(*p - '0');
    }
    if (prefix < 1 || prefix > 32)
        return bad(c, err, errlen, "ip=%.*s: the prefix length must be 1-32", (int)iplen, ip);
    uint32_t h = host_order(a), mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
    if ((h >> 24) == 0 || (h >> 24) == 127 || (h >> 28) == 14 || (h >> 28) == 15)
        return bad(c, err, errlen, "ip=%.*s: not a usable host address", (int)iplen, ip);
    /* /31 and /32 have no network or broadcast address (RFC 3021). */
    if (prefix < 31 && ((h & ~mask) == 0 || (h & ~mask) == ~mask))
        return bad(c, err, errlen, "ip=%.*s: that is the subnet's network or broadcast address",
                   (int)iplen, ip);
    c->mode = NETCFG_STATIC;
    c->addr = a;
    c->netmask = net_order(mask);
    return 0;
}

int netcfg_parse(struct net_config *c, const char *ip, size_t iplen, const char *gw, size_t gwlen,
                 const char *dns, size_t dnslen, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->mode = NETCFG_DHCP;
    if (err && errlen)
        err[0] = 0;
    if (ip && (word_is(ip, iplen, "off") || word_is(ip, iplen, "none")))
        c->mode = NETCFG_OFF;
    else if (ip && !word_is(ip, iplen, "dhcp") && parse_static(c, ip, iplen, err, errlen) < 0)
        return -1;
    if (gw) {
        if (c->mode != NETCFG_STATIC)
            return bad(c, err, errlen, "gw= needs a static ip=");
        uint32_t g;
        if (netcfg_ipv4(gw, gwlen, &g) < 0)
            return bad(c, err, errlen, "gw=%.*s: not an IPv4 address", (int)gwlen, gw);
        if ((g & c->netmask) != (c->addr & c->netmask) || g == c->addr)
            return bad(c, err, errlen, "gw=%.*s: not another address in ip='s subnet", (int)gwlen,
                       gw);
        c->gw = g;
    }
    for (size_t i = 0; dns && i < dnslen;) {
        const char *comma = memchr(dns + i, ',', dnslen - i);
        size_t n = comma ? (size_t)(comma - (dns + i)) : dnslen - i;
        uint32_t d;
        if (c->ndns == NETCFG_MAX_DNS)
            return bad(c, err, errlen, "dns=: at most %d servers", NETCFG_MAX_DNS);
        if (netcfg_ipv4(dns + i, n, &d) < 0 || d == 0)
            return bad(c, err, errlen, "dns=%.*s: not an IPv4 address", (int)dnslen, dns);
        c->dns[c->ndns++] = d;
        i += n + 1;
        if (comma && i == dnslen)
            return bad(c, err, errlen, "dns=%.*s: trailing comma", (int)dnslen, dns);
    }
    return 0;
}

int netcfg_from_words(struct net_config *c, const char *words, char *err, size_t errlen)
{
    static const char *const keys[3] = {"ip=", "gw=", "dns="};
    const char *val[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    for (const char *p = words; *p;) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wl = (size_t)(p - w);
        if (!wl)
            continue;
        int k = 0;
        while (k < 3 && !(wl >= strlen(keys[k]) && !memcmp(w, keys[k], strlen(keys[k]))))
            k++;
        if (k == 3)
            return bad(c, err, errlen, "%.*s: not ip=, gw= or dns=", (int)wl, w);
        val[k] = w + strlen(keys[k]);
        len[k] = wl - strlen(keys[k]);
    }
    return netcfg_parse(c, val[0], len[0], val[1], len[1], val[2], len[2], err, errlen);
}
