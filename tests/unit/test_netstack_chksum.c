/* test_netstack_chksum.c: the netstack's Internet checksum against RFC 1071's definition, at every
 * length and alignment, and known packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

uint16_t netstack_chksum(const void *data, int len);

/* RFC 1071 as written: 16-bit big-endian words, end-around carry.  Returned in the byte order
 * the netstack's gives (the bytes as stored), to compare like with like. */
static uint16_t reference(const unsigned char *p, int len)
{
    uint32_t sum = 0;
    for (int i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    unsigned char out[2] = {(unsigned char)(sum >> 8), (unsigned char)sum};
    uint16_t v;
    memcpy(&v, out, 2);
    return v;
}

static void test_against_reference(void **state)
{
    (void)state;
    static unsigned char buf[70000];
    srand(42);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)rand();
    for (int off = 0; off < 8; off++)
        for (int len = 0; len < 300; len++)
            assert_int_equal(netstack_chksum(buf + off, len), reference(buf + off, len));
    static const int lens[] = {1459, 1460, 1461, 1514, 9000, 65535};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (int off = 0; off < 3; off++)
            assert_int_equal(netstack_chksum(buf + off, lens[i]), reference(buf + off, lens[i]));
    /* All ones: the sum must wrap many times without losing carries. */
    memset(buf, 0xff, sizeof buf);
    assert_int_equal(netstack_chksum(buf, 65535), reference(buf, 65535));
}

static void test_known_header(void **state)
{
    (void)state;
    /* An IPv4 header with its checksum (0xb861) in place sums to 0xffff. */
    static const unsigned char ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40,
                                         0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
                                         0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    assert_int_equal(netstack_chksum(ip, 20), 0xffff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_known_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
