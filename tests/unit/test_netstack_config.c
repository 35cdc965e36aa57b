/* test_netstack_config.c: the netstack's boot command line (ip=, gw=, dns=) parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "config.h"

/* Parses NUL-terminated values (NULL: the word is absent). */
static int parse(struct net_config *c, const char *ip, const char *gw, const char *dns, char *err)
{
    return netcfg_parse(c, ip, ip ? strlen(ip) : 0, gw, gw ? strlen(gw) : 0, dns,
                        dns ? strlen(dns) : 0, err, 128);
}

static uint32_t a(const char *s)
{
    struct in_addr in;
    assert_int_equal(inet_pton(AF_INET, s, &in), 1);
    return in.s_addr;
}

static void test_dotted_quads(void **state)
{
    (void)state;
    uint32_t v;
    assert_int_equal(netcfg_ipv4("10.0.2.15", 9, &v), 0);
    assert_int_equal(v, a("10.0.2.15"));
    assert_int_equal(netcfg_ipv4("255.255.255.255", 15, &v), 0);
    assert_int_equal(v, 0xffffffffu);
    assert_int_equal(netcfg_ipv4("0.0.0.0", 7, &v), 0);
    assert_int_equal(v, 0);
    /* Only the given length counts: the rest of the command line follows. */
    assert_int_equal(netcfg_ipv4("10.0.2.15 gw=1.2.3.4", 9, &v), 0);
    assert_int_equal(v, a("10.0.2.15"));
    static const char *const bad[] = {
        "",          "10",         "10.0.2",     "10.0.2.15.1",  "10.0.2.256",
        "10.0.2.-1", "10..2.15",   "010.0.2.15", "10.0.2.15/24", " 10.0.2.15",
        "10.0.2.1x", "1000.0.0.1", "a.b.c.d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(netcfg_ipv4(bad[i], strlen(bad[i]), &v), -1);
}

static void test_static(void **state)
{
    (void)state;
    struct net_config c;
    char err[128];
    assert_int_equal(parse(&c, "10.0.2.15/24", "10.0.2.2", "10.0.2.3", err), 0);
    assert_int_equal(c.mode, NETCFG_STATIC);
    assert_int_equal(c.addr, a("10.0.2.15"));
    assert_int_equal(c.netmask, a("255.255.255.0"));
    assert_int_equal(c.gw, a("10.0.2.2"));
    assert_int_equal(c.ndns, 1);
    assert_int_equal(c.dns[0], a("10.0.2.3"));
    assert_string_equal(err, "");

    assert_int_equal(parse(&c, "192.168.7.9/32", NULL, "1.1.1.1,9.9.9.9", err), 0);
    assert_int_equal(c.netmask, 0xffffffffu);
    assert_int_equal(c.gw, 0);
    assert_int_equal(c.ndns, 2);
    assert_int_equal(c.dns[1], a("9.9.9.9"));
    /* RFC 3021: a /31 has no network or broadcast address. */
    assert_int_equal(parse(&c, "10.0.0.0/31", "10.0.0.1", NULL, err), 0);
    assert_int_equal(parse(&c, "172.16.5.1/12", NULL, NULL, err), 0);
    assert_int_equal(c.netmask, a("255.240.0.0"));
}

static void test_modes(void **state)
{
    (void)state;
    struct net_config c;
    char err[128];
    assert_int_equal(parse(&c, NULL, NULL, NULL, err), 0);
    assert_int_equal(c.mode, NETCFG_DHCP); /* no ip= at all: DHCP */
    assert_int_equal(parse(&c, "dhcp", NULL, "10.0.2.3", err), 0);
    assert_int_equal(c.mode, NETCFG_DHCP);
    assert_int_equal(c.ndns, 1); /* dns= overrides what DHCP says */
    assert_int_equal(parse(&c, "off", NULL, NULL, err), 0);
    assert_int_equal(c.mode, NETCFG_OFF);
    assert_int_equal(parse(&c, "none", NULL, NULL, err), 0);
    assert_int_equal(c.mode, NETCFG_OFF);
    assert_int_equal(parse(&c, NULL, NULL, "", err), 0); /* an empty dns= names no server */
    assert_int_equal(c.ndns, 0);
}

static void expect_bad(const char *ip, const char *gw, const char *dns, const char *msg)
{
    struct net_config c;
    char err[128];
    if (parse(&c, ip, gw, dns, err) != -1)
        fail_msg("ip=%s gw=%s dns=%s was accepted", ip, gw, dns);
    assert_int_equal(c.mode, NETCFG_OFF); /* a bad configuration leaves the interface alone */
    if (!strstr(err, msg))
        fail_msg("ip=%s gw=%s dns=%s: \"%s\" lacks \"%s\"", ip, gw, dns, err, msg);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_bad("10.0.2.15", NULL, NULL, "prefix length");
    expect_bad("10.0.2.15/", NULL, NULL, "bad prefix");
    expect_bad("10.0.2.15/33", NULL, NULL, "1-32");
    expect_bad("10.0.2.15/0", NULL, NULL, "1-32");
    expect_bad("10.0.2.15/2x", NULL, NULL, "bad prefix");
    expect_bad("10.0.2.15/024", NULL, NULL, "bad prefix");
    expect_bad("10.0.2/24", NULL, NULL, "not an IPv4");
    expect_bad("dhcpx", NULL, NULL, "prefix length");
    expect_bad("127.0.0.1/8", NULL, NULL, "usable");
    expect_bad("0.1.2.3/8", NULL, NULL, "usable");
    expect_bad("224.0.0.1/4", NULL, NULL, "usable");
    expect_bad("10.0.2.0/24", NULL, NULL, "network or broadcast");
    expect_bad("10.0.2.255/24", NULL, NULL, "network or broadcast");
    expect_bad("10.0.2.15/24", "10.0.3.1", NULL, "subnet");
    expect_bad("10.0.2.15/24", "10.0.2.15", NULL, "subnet");
    expect_bad("10.0.2.15/24", "10.0.2", NULL, "not an IPv4");
    expect_bad("dhcp", "10.0.2.2", NULL, "static");
    expect_bad(NULL, "10.0.2.2", NULL, "static");
    expect_bad(NULL, NULL, "1.1.1.1,2.2.2.2,3.3.3.3", "at most");
    expect_bad(NULL, NULL, "1.1.1.1,", "trailing comma");
    expect_bad(NULL, NULL, "0.0.0.0", "not an IPv4");
}

static void test_words(void **state)
{
    (void)state;
    struct net_config c;
    char err[128];
    assert_int_equal(
        netcfg_from_words(&c, "ip=10.0.9.1/24  gw=10.0.9.254 dns=10.0.9.2", err, sizeof err), 0);
    assert_int_equal(c.mode, NETCFG_STATIC);
    assert_int_equal(c.gw, a("10.0.9.254"));
    assert_int_equal(c.dns[0], a("10.0.9.2"));
    assert_int_equal(netcfg_from_words(&c, "", err, sizeof err), 0);
    assert_int_equal(c.mode, NETCFG_DHCP);
    assert_int_equal(netcfg_from_words(&c, "ip=dhcp mtu=9000", err, sizeof err), -1);
    assert_non_null(strstr(err, "mtu=9000"));
}

static void test_ntoa(void **state)
{
    (void)state;
    char buf[16];
    assert_string_equal(netcfg_ntoa(a("10.0.2.15"), buf), "10.0.2.15");
    assert_string_equal(netcfg_ntoa(0xffffffffu, buf), "255.255.255.255");
    assert_string_equal(netcfg_ntoa(0, buf), "0.0.0.0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dotted_quads), cmocka_unit_test(test_static),
        cmocka_unit_test(test_modes),        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_words),        cmocka_unit_test(test_ntoa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
