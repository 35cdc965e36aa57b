/* test_linux_log.c: System.map parsing and the panic reason found in a Linux log buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "x86/linux_log.h"

#include <stdlib.h>
#include <string.h>

static const char MAP[] = "0000000000000000 A fixed_percpu_data\n"
                          "ffffffff81000000 T _text\n"
                          "ffffffff81e00100 D linux_banner\n"
                          "ffffffff82664400 d log_buf\n"
                          "ffffffff82664408 d log_buf_len\n";

static void test_a_map_gives_the_symbols(void **state)
{
    (void)state;
    struct linux_syms s;
    char err[200];
    assert_int_equal(linux_syms_parse(MAP, strlen(MAP), &s, err, sizeof err), 0);
    assert_true(s.log_buf == 0xffffffff82664400ull);
    assert_true(s.log_buf_len == 0xffffffff82664408ull);
    assert_true(s.linux_banner == 0xffffffff81e00100ull);
}

static void test_debians_placeholder_and_garbage_are_refused(void **state)
{
    (void)state;
    struct linux_syms s;
    char err[200];
    const char *ph =
        "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n";
    assert_int_equal(linux_syms_parse(ph, strlen(ph), &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "no symbol log_buf"));
    assert_non_null(strstr(err, "placeholder"));
    const char *bad = "ffffffff81000000 T _text\nnot a map\n";
    assert_int_equal(linux_syms_parse(bad, strlen(bad), &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 2"));
}

/* Paging off: guest-virtual is guest-physical, so the buffer's layout is the test's. */
#define MEM (1u << 20)
struct guest {
    uint8_t *mem;
    struct pagewalk_ctx c;
    struct linux_syms s;
};

static struct guest *guest_with_log(const char *records, size_t len, uint32_t blen)
{
    struct guest *g = calloc(1, sizeof *g);
    g->mem = calloc(1, MEM);
    g->c = (struct pagewalk_ctx){.cr0 = PW_CR0_PE, .mem = g->mem, .mem_size = MEM};
    g->s = (struct linux_syms){.log_buf = 0x1000, .log_buf_len = 0x1008, .linux_banner = 0x1010};
    uint64_t buf = 0x10000;
    memcpy(g->mem + 0x1000, &buf, 8);
    memcpy(g->mem + 0x1008, &blen, 4);
    memcpy(g->mem + buf, records, len);
    return g;
}

static void guest_free(struct guest *g)
{
    free(g->mem);
    free(g);
}

static void test_the_last_panic_is_the_reason(void **state)
{
    (void)state;
    /* Records as the data ring holds them: an 8-byte id, then the text. */
    static const char log[] =
        "\x01\0\0\0\0\0\0\0Kernel panic - not syncing: an older one\n"
        "\x02\0\0\0\0\0\0\0sysrq: Trigger a crash\n"
        "\x03\0\0\0\0\0\0\0Kernel panic - not syncing: sysrq triggered crash\n"
        "\x04\0\0\0\0\0\0\0CPU: 0 PID: 1 Comm: sh";
    struct guest *g = guest_with_log(log, sizeof log, 4096);
    char why[160];
    assert_true(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    assert_string_equal(why, "sysrq triggered crash");
    /* A short output buffer gets the start of it. */
    char small[6];
    assert_true(linux_panic_reason(&g->c, &g->s, small, sizeof small));
    assert_string_equal(small, "sysrq");
    guest_free(g);
}

/* The ring pads a record's text to 8 bytes with stale bytes: its length is in its descriptor's
 * printk_info (through prb), as a real 6.1 guest showed ("crash" + stale "sh"). */
static void test_the_record_length_ends_the_reason(void **state)
{
    (void)state;
    char log[128] = {0};
    uint64_t id = 5;
    const char *msg = "Kernel panic - not syncing: sysrq triggered crash";
    memcpy(log, &id, 8);
    memcpy(log + 8, msg, strlen(msg));
    memcpy(log + 8 + strlen(msg), "sh", 2); /* stale padding */
    struct guest *g = guest_with_log(log, sizeof log, 4096);
    char why[160];
    assert_true(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    assert_string_equal(why, "sysrq triggered crashsh"); /* without prb: the padding shows */
    g->s.prb = 0x1020;
    uint64_t ring = 0x2000, infos = 0x3000;
    uint32_t bits = 4;
    uint16_t len = (uint16_t)strlen(msg);
    memcpy(g->mem + 0x1020, &ring, 8);
    memcpy(g->mem + ring, &bits, 4);
    memcpy(g->mem + ring + 16, &infos, 8);
    memcpy(g->mem + infos + 5 * 88 + 16, &len, 2);
    assert_true(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    assert_string_equal(why, "sysrq triggered crash");
    guest_free(g);
}

static void test_no_panic_or_no_buffer_is_unknown(void **state)
{
    (void)state;
    static const char log[] = "\x01\0\0\0\0\0\0\0Linux version 6.1\n";
    struct guest *g = guest_with_log(log, sizeof log, 4096);
    char why[160];
    assert_false(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    assert_string_equal(why, "unknown");
    /* log_buf pointing outside RAM, a length no log buffer has, a symbol outside RAM. */
    uint64_t far = 0x7fff0000ull;
    memcpy(g->mem + 0x1000, &far, 8);
    assert_false(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    guest_free(g);
    g = guest_with_log(log, sizeof log, 0xffffffffu);
    assert_false(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    g->s.log_buf = 0xffffffff82664400ull;
    assert_false(linux_panic_reason(&g->c, &g->s, why, sizeof why));
    assert_string_equal(why, "unknown");
    guest_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_map_gives_the_symbols),
        cmocka_unit_test(test_debians_placeholder_and_garbage_are_refused),
        cmocka_unit_test(test_the_last_panic_is_the_reason),
        cmocka_unit_test(test_the_record_length_ends_the_reason),
        cmocka_unit_test(test_no_panic_or_no_buffer_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
