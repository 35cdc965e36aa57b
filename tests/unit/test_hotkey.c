/* test_hotkey.c: the Ctrl-A escape parser, byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/hotkey.h"

/* Feeds one byte and checks the action and, for PASS, the byte passed on. */
static void feed(struct hotkey_state *s, uint8_t in, enum hotkey want, uint8_t want_byte)
{
    uint8_t b = in;
    enum hotkey got = hotkey_feed(s, &b);
    if (got != want)
        fail_msg("byte 0x%02x: action %d, expected %d", in, got, want);
    if (want == HOTKEY_PASS)
        assert_int_equal(b, want_byte);
}

static void test_plain_bytes_pass(void **state)
{
    (void)state;
    struct hotkey_state s = {0};
    for (unsigned v = 0; v < 256; v++) {
        if (v == HOTKEY_PREFIX)
            continue;
        feed(&s, (uint8_t)v, HOTKEY_PASS, (uint8_t)v);
        assert_false(s.prefix_seen);
    }
}

static void test_prefix_swallowed(void **state)
{
    (void)state;
    struct hotkey_state s = {0};
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    assert_true(s.prefix_seen);
}

static void test_actions(void **state)
{
    (void)state;
    static const struct {
        uint8_t key;
        enum hotkey action;
    } cases[] = {
        {'s', HOTKEY_SWITCH},     {'S', HOTKEY_SWITCH}, {'g', HOTKEY_TO_GUEST},
        {'v', HOTKEY_TO_SERVICE}, {'p', HOTKEY_PAUSE},  {'i', HOTKEY_STATUS},
        {'x', HOTKEY_QUIT},       {'h', HOTKEY_HELP},   {'?', HOTKEY_HELP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hotkey_state s = {0};
        feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
        feed(&s, cases[i].key, cases[i].action, 0);
        assert_false(s.prefix_seen);
    }
}

static void test_literal_prefix(void **state)
{
    (void)state;
    struct hotkey_state s = {0};
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    feed(&s, HOTKEY_PREFIX, HOTKEY_PASS, HOTKEY_PREFIX);
    assert_false(s.prefix_seen);
    /* Ctrl-A a sends one too, as in screen. */
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    feed(&s, 'a', HOTKEY_PASS, HOTKEY_PREFIX);
    /* The literal Ctrl-A did not start a new sequence. */
    feed(&s, 's', HOTKEY_PASS, 's');
}

static void test_unknown_key_gives_help(void **state)
{
    (void)state;
    static const uint8_t keys[] = {'z', 'q', 'G', 'X', '0', ' ', '\r', 0x00, 0x1b, 0x7f, 0xff};
    for (size_t i = 0; i < sizeof keys; i++) {
        struct hotkey_state s = {0};
        feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
        feed(&s, keys[i], HOTKEY_HELP, 0);
        assert_false(s.prefix_seen);
        feed(&s, keys[i], HOTKEY_PASS, keys[i]); /* the next one is plain again */
    }
}

static void test_state_resets(void **state)
{
    (void)state;
    struct hotkey_state s = {0};
    feed(&s, 'a', HOTKEY_PASS, 'a');
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    feed(&s, 'p', HOTKEY_PAUSE, 0);
    feed(&s, 'p', HOTKEY_PASS, 'p');
    feed(&s, 'x', HOTKEY_PASS, 'x');
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    feed(&s, 'z', HOTKEY_HELP, 0);
    feed(&s, 'i', HOTKEY_PASS, 'i');
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    feed(&s, 'g', HOTKEY_TO_GUEST, 0);
    feed(&s, HOTKEY_PREFIX, HOTKEY_NONE, 0);
    feed(&s, 'v', HOTKEY_TO_SERVICE, 0);
    feed(&s, 'v', HOTKEY_PASS, 'v');
}

static void test_help_text(void **state)
{
    (void)state;
    assert_non_null(strstr(hotkey_help, "Ctrl-A"));
    assert_non_null(strstr(hotkey_help, "\r\n"));
    /* Every action key is documented. */
    static const char *const keys[] = {"  s  ", "  g  ", "  v  ", "  p  ",
                                       "  i  ", "  x  ", "  h  "};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strstr(hotkey_help, keys[i]))
            fail_msg("help does not list \"%s\"", keys[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_bytes_pass),
        cmocka_unit_test(test_prefix_swallowed),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_literal_prefix),
        cmocka_unit_test(test_unknown_key_gives_help),
        cmocka_unit_test(test_state_resets),
        cmocka_unit_test(test_help_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
