/* test_console.c: the console's output ring (absolute offsets, clamping) and bounded input queue.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/console.h"

/* A byte pattern that does not repeat with the ring's period. */
static uint8_t pat(uint64_t i)
{
    return (uint8_t)((i * 31 + 7) % 251);
}

static int setup(void **state)
{
    struct console *c = malloc(sizeof *c);
    if (!c)
        return -1;
    console_init(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct console *c = *state;
    console_destroy(c);
    free(c);
    return 0;
}

/* Writes bytes pat(from) .. pat(from + len - 1) in chunks of `chunk`. */
static void output_pattern(struct console *c, uint64_t from, size_t len, size_t chunk)
{
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(from + i);
    for (size_t off = 0; off < len; off += chunk)
        console_output(c, buf + off, len - off < chunk ? len - off : chunk, false);
    free(buf);
}

static void test_empty(void **state)
{
    struct console *c = *state;
    uint8_t buf[16];
    uint64_t start = 99, next = 99;
    assert_int_equal(console_read_output(c, 0, buf, sizeof buf, &start, &next), 0);
    assert_int_equal(start, 0);
    assert_int_equal(next, 0);
    assert_int_equal(c->total, 0);
    assert_int_equal(console_input_pending(c), 0);
    assert_int_equal(console_input_pop(c, buf, sizeof buf), 0);
    assert_int_equal(c->echo_fd, -1);
}

static void test_read_offsets(void **state)
{
    struct console *c = *state;
    char buf[32];
    uint64_t start, next;
    console_output(c, "hello", 5, false);
    console_output(c, " world", 6, false);
    assert_int_equal(c->total, 11);

    memset(buf, 0, sizeof buf);
    assert_int_equal(console_read_output(c, 0, buf, sizeof buf, &start, &next), 11);
    assert_string_equal(buf, "hello world");
    assert_int_equal(start, 0);
    assert_int_equal(next, 11);

    memset(buf, 0, sizeof buf);
    assert_int_equal(console_read_output(c, 6, buf, sizeof buf, &start, &next), 5);
    assert_string_equal(buf, "world");
    assert_int_equal(start, 6);
    assert_int_equal(next, 11);

    /* max limits the copy; next continues where it stopped. */
    memset(buf, 0, sizeof buf);
    assert_int_equal(console_read_output(c, 0, buf, 4, &start, &next), 4);
    assert_string_equal(buf, "hell");
    assert_int_equal(next, 4);
    memset(buf, 0, sizeof buf);
    assert_int_equal(console_read_output(c, next, buf, 4, &start, &next), 4);
    assert_string_equal(buf, "o wo");
    assert_int_equal(start, 4);
    assert_int_equal(next, 8);

    /* At total: nothing, and the caller stays put. */
    assert_int_equal(console_read_output(c, 11, buf, sizeof buf, &start, &next), 0);
    assert_int_equal(start, 11);
    assert_int_equal(next, 11);
    /* Beyond total: clamped to total. */
    assert_int_equal(console_read_output(c, 1000, buf, sizeof buf, &start, &next), 0);
    assert_int_equal(start, 11);
    assert_int_equal(next, 11);
}

static void test_ring_keeps_last(void **state)
{
    struct console *c = *state;
    const uint64_t extra = 1000;
    const uint64_t total = CONSOLE_RING_SIZE + extra;
    output_pattern(c, 0, (size_t)total, 997);
    assert_int_equal(c->total, total);

    uint8_t *buf = malloc(CONSOLE_RING_SIZE + 16);
    assert_non_null(buf);
    uint64_t start, next;
    /* From 0: clamped to the oldest byte still held. */
    size_t n = console_read_output(c, 0, buf, CONSOLE_RING_SIZE + 16, &start, &next);
    assert_int_equal(n, CONSOLE_RING_SIZE);
    assert_int_equal(start, extra);
    assert_true(start > 0);
    assert_int_equal(next, total);
    for (size_t i = 0; i < n; i++)
        if (buf[i] != pat(extra + i))
            fail_msg("ring byte %zu: 0x%02x, expected 0x%02x", i, buf[i], pat(extra + i));

    /* One before the oldest: clamped; exactly the oldest: used as is. */
    assert_int_equal(console_read_output(c, extra - 1, buf, 8, &start, &next), 8);
    assert_int_equal(start, extra);
    assert_int_equal(buf[0], pat(extra));
    assert_int_equal(console_read_output(c, extra, buf, 8, &start, &next), 8);
    assert_int_equal(start, extra);
    assert_int_equal(next, extra + 8);

    /* The newest bytes, across the wrap point. */
    assert_int_equal(console_read_output(c, total - 10, buf, 64, &start, &next), 10);
    assert_int_equal(start, total - 10);
    assert_int_equal(next, total);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(buf[i], pat(total - 10 + i));
    assert_int_equal(console_read_output(c, total, buf, 64, &start, &next), 0);
    assert_int_equal(start, total);
    free(buf);
}

static void test_single_write_larger_than_ring(void **state)
{
    struct console *c = *state;
    const size_t len = CONSOLE_RING_SIZE + CONSOLE_RING_SIZE / 2 + 3;
    output_pattern(c, 0, 5, 5);
    output_pattern(c, 5, len, len); /* one call */
    uint64_t total = 5 + len;
    assert_int_equal(c->total, total);
    uint8_t *buf = malloc(CONSOLE_RING_SIZE);
    assert_non_null(buf);
    uint64_t start, next;
    assert_int_equal(console_read_output(c, 0, buf, CONSOLE_RING_SIZE, &start, &next),
                     CONSOLE_RING_SIZE);
    assert_int_equal(start, total - CONSOLE_RING_SIZE);
    for (size_t i = 0; i < CONSOLE_RING_SIZE; i++)
        if (buf[i] != pat(start + i))
            fail_msg("ring byte %zu wrong", i);
    free(buf);
}

static void test_echo(void **state)
{
    struct console *c = *state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    c->echo_fd = p[1];
    console_output(c, "seen", 4, true);
    console_output(c, "quiet", 5, false);
    char buf[16] = "";
    assert_int_equal(read(p[0], buf, sizeof buf), 4);
    assert_memory_equal(buf, "seen", 4);
    assert_int_equal(read(p[0], buf, sizeof buf), -1); /* nothing more: the quiet write stayed */
    /* Both writes are in the ring regardless. */
    uint64_t start, next;
    assert_int_equal(console_read_output(c, 0, buf, sizeof buf, &start, &next), 9);
    assert_memory_equal(buf, "seenquiet", 9);
    c->echo_fd = -1;
    console_output(c, "x", 1, true); /* no echo fd: just the ring */
    assert_int_equal(c->total, 10);
    close(p[0]);
    close(p[1]);
}

static void test_input_fifo(void **state)
{
    struct console *c = *state;
    char buf[16];
    assert_int_equal(console_input_push(c, "abcdef", 6), 6);
    assert_int_equal(console_input_pending(c), 6);
    memset(buf, 0, sizeof buf);
    assert_int_equal(console_input_pop(c, buf, 4), 4);
    assert_string_equal(buf, "abcd");
    assert_int_equal(console_input_pending(c), 2);
    assert_int_equal(console_input_push(c, "gh", 2), 2);
    memset(buf, 0, sizeof buf);
    assert_int_equal(console_input_pop(c, buf, sizeof buf), 4);
    assert_string_equal(buf, "efgh");
    assert_int_equal(console_input_pop(c, buf, sizeof buf), 0);
    assert_int_equal(console_input_pop(c, buf, 0), 0);
    assert_int_equal(c->in_dropped, 0);
}

static void test_input_bounded(void **state)
{
    struct console *c = *state;
    const size_t over = 100, len = CONSOLE_INPUT_SIZE + over;
    uint8_t *in = malloc(len), *out = malloc(len);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < len; i++)
        in[i] = pat(i);
    assert_int_equal(console_input_push(c, in, len), CONSOLE_INPUT_SIZE);
    assert_int_equal(c->in_dropped, over);
    assert_int_equal(console_input_pending(c), CONSOLE_INPUT_SIZE);
    assert_int_equal(console_input_push(c, in, 5), 0); /* full */
    assert_int_equal(c->in_dropped, over + 5);
    /* The accepted bytes are the first ones, in order. */
    assert_int_equal(console_input_pop(c, out, len), CONSOLE_INPUT_SIZE);
    assert_memory_equal(out, in, CONSOLE_INPUT_SIZE);
    assert_int_equal(console_input_pending(c), 0);
    /* Room again after popping; the dropped count stays. */
    assert_int_equal(console_input_push(c, in, 3), 3);
    assert_int_equal(c->in_dropped, over + 5);
    free(in);
    free(out);
}

static void test_input_partial_accept(void **state)
{
    struct console *c = *state;
    uint8_t in[CONSOLE_INPUT_SIZE] = {0};
    assert_int_equal(console_input_push(c, in, CONSOLE_INPUT_SIZE - 3), CONSOLE_INPUT_SIZE - 3);
    assert_int_equal(console_input_push(c, "wxyz", 4), 3);
    assert_int_equal(c->in_dropped, 1);
    uint8_t out[CONSOLE_INPUT_SIZE];
    assert_int_equal(console_input_pop(c, out, sizeof out), CONSOLE_INPUT_SIZE);
    assert_memory_equal(out + CONSOLE_INPUT_SIZE - 3, "wxy", 3);
}

static void test_input_wrap(void **state)
{
    struct console *c = *state;
    uint8_t in[1500], out[CONSOLE_INPUT_SIZE];
    uint64_t next_in = 0, next_out = 0, dropped = 0;
    /* Pushes and pops of uneven sizes move head all around the buffer, sometimes filling it. */
    for (uint32_t round = 0; round < 300; round++) {
        size_t k = 1 + (round * 379) % sizeof in, m = 1 + (round * 577) % 1400;
        size_t pending = (size_t)(next_in - next_out), room = CONSOLE_INPUT_SIZE - pending;
        size_t accept = k < room ? k : room;
        for (size_t i = 0; i < k; i++)
            in[i] = pat(next_in + i);
        assert_int_equal(console_input_push(c, in, k), accept);
        next_in += accept;
        dropped += k - accept;
        pending += accept;
        size_t got = console_input_pop(c, out, m);
        assert_int_equal(got, m < pending ? m : pending);
        for (size_t i = 0; i < got; i++)
            if (out[i] != pat(next_out + i))
                fail_msg("round %u: byte %zu out of order", round, i);
        next_out += got;
        assert_int_equal(console_input_pending(c), next_in - next_out);
    }
    size_t got = console_input_pop(c, out, sizeof out);
    for (size_t i = 0; i < got; i++)
        assert_int_equal(out[i], pat(next_out + i));
    next_out += got;
    assert_int_equal(next_out, next_in);
    assert_int_equal(c->in_dropped, dropped);
    assert_true(next_in > 20 * CONSOLE_INPUT_SIZE); /* wrapped many times */
    assert_true(dropped > 0);                       /* and was full at times */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_keeps_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_write_larger_than_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_partial_accept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_wrap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
