/* test_nic_config.c: --net parsing: kinds, defaults, forwards, and the refusals that stop hv at
 * start-up rather than leave a VM offline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "net/backends.h"
#include "net/nic_config.h"

static struct nic_config c;
static char err[256];

static uint32_t addr(const char *s)
{
    struct in_addr a;
    assert_int_equal(inet_pton(AF_INET, s, &a), 1);
    return a.s_addr;
}

static void test_kinds_and_defaults(void **state)
{
    (void)state;
    assert_int_equal(nic_config_parse(&c, "none", false, err, sizeof err), 0);
    assert_int_equal(c.kind, NIC_NONE);
    assert_null(c.backend);
    assert_int_equal(nic_config_parse(&c, "user", true, err, sizeof err), 0);
    assert_int_equal(c.kind, NIC_USER);
    assert_ptr_equal(c.backend, &nic_slirp_backend);
    assert_true(c.restricted);      /* the service VM's default */
    assert_int_equal(c.mtu, 16384); /* its user network's default */
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    assert_memory_equal(c.mac, mac, 6);
    assert_int_equal(nic_config_parse(&c, "user", false, err, sizeof err), 0);
    assert_false(c.restricted); /* a guest's */
    assert_int_equal(c.mtu, 1500);
    assert_int_equal(nic_config_parse(&c, "user,mtu=1500", true, err, sizeof err), 0);
    assert_int_equal(c.mtu, 1500); /* said, so kept */
    assert_int_equal(nic_config_parse(&c, "tap,ifname=vtap0,mtu=9000,mac=02:00:00:00:00:01", false,
                                      err, sizeof err),
                     0);
    assert_ptr_equal(c.backend, &nic_tap_backend);
    assert_string_equal(c.ifname, "vtap0");
    assert_int_equal(c.mtu, 9000);
    assert_int_equal(c.mac[0], 2);
    assert_int_equal(c.mac[5], 1);
    const struct nic_config *d = nic_config_service_default();
    assert_int_equal(d->kind, NIC_USER);
    assert_true(d->restricted);
}

static void test_forwards(void **state)
{
    (void)state;
    assert_int_equal(
        nic_config_parse(&c,
                         "user,restrict=off,hostfwd=tcp:127.0.0.1:8443-:443,"
                         "hostfwd=udp::5353-10.0.2.15:53,hostfwd=:2222-:22,"
                         "guestfwd=tcp:10.0.2.100:443-collector.example:8443,mtu=65520",
                         true, err, sizeof err),
        0);
    assert_false(c.restricted);
    assert_int_equal(c.mtu, 65520);
    assert_int_equal(c.nhostfwd, 3);
    assert_false(c.hostfwd[0].udp);
    assert_int_equal(c.hostfwd[0].host_addr.s_addr, addr("127.0.0.1"));
    assert_int_equal(c.hostfwd[0].host_port, 8443);
    assert_int_equal(c.hostfwd[0].guest_addr.s_addr, 0);
    assert_int_equal(c.hostfwd[0].guest_port, 443);
    assert_true(c.hostfwd[1].udp);
    assert_int_equal(c.hostfwd[1].host_addr.s_addr, addr("127.0.0.1")); /* loopback unless told */
    assert_int_equal(c.hostfwd[1].guest_addr.s_addr, addr("10.0.2.15"));
    assert_int_equal(c.hostfwd[2].host_port, 2222);
    assert_int_equal(c.nguestfwd, 1);
    assert_int_equal(c.guestfwd[0].addr.s_addr, addr("10.0.2.100"));
    assert_int_equal(c.guestfwd[0].port, 443);
    assert_string_equal(c.guestfwd[0].host, "collector.example");
    assert_int_equal(c.guestfwd[0].host_port, 8443);
}

static void refused(const char *spec, const char *why)
{
    err[0] = 0;
    if (nic_config_parse(&c, spec, true, err, sizeof err) != -1)
        fail_msg("\"%s\" was accepted", spec);
    if (!strstr(err, why))
        fail_msg("\"%s\": \"%s\" does not say \"%s\"", spec, err, why);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("", "empty");
    refused("slirp", "want none, user or tap");
    refused("none,mtu=1500", "none takes no options");
    refused("tap", "ifname");
    refused("tap,ifname=a/b", "ifname=");
    refused("tap,ifname=0123456789abcdef", "ifname=");
    refused("tap,ifname=x,restrict=on", "not an option");
    refused("user,ifname=x", "not an option");
    refused("user,mtu", "NAME=VALUE");
    refused("user,mtu=67", "68 to 65520");
    refused("user,mtu=65521", "68 to 65520");
    refused("user,mtu=1500x", "68 to 65520");
    refused("user,mac=01:00:00:00:00:01", "unicast");
    refused("user,mac=52:54:00:12:34", "mac=");
    refused("user,mac=52:54:00:12:34:56:78", "mac=");
    refused("user,restrict=yes", "on or off");
    refused("user,hostfwd=tcp:127.0.0.1:0-:80", "hostfwd=");
    refused("user,hostfwd=tcp:127.0.0.1:65536-:80", "hostfwd=");
    refused("user,hostfwd=tcp:127.0.0.1:80", "hostfwd=");
    refused("user,hostfwd=tcp:300.0.0.1:80-:80", "hostfwd=");
    refused("user,hostfwd=tcp::80-:", "hostfwd=");
    refused("user,guestfwd=tcp:10.0.2.100:443", "guestfwd=");
    refused("user,guestfwd=tcp:10.0.2.100:443-:80", "guestfwd=");
    refused("user,guestfwd=tcp:10.0.3.100:443-h:80", "10.0.2.0/24");
    refused("user,guestfwd=tcp:10.0.2.2:443-h:80", "not .2, .3, .15");
    refused("user,guestfwd=tcp:10.0.2.15:443-h:80", "not .2, .3, .15");
    char many[NIC_SPEC_MAX];
    strcpy(many, "user");
    for (int i = 0; i < NIC_FWD_MAX + 1; i++)
        strcat(many, ",hostfwd=:1000-:80");
    refused(many, "too many");
    char huge[NIC_SPEC_MAX + 8];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    refused(huge, "too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_defaults),
        cmocka_unit_test(test_forwards),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
