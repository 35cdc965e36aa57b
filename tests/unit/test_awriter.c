/* test_awriter.c: the asynchronous writer keeps order, never blocks its callers, drops whole
 * buffers when full and writes everything queued before it closes. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/awriter.h"

static size_t read_all(int fd, char *buf, size_t max)
{
    size_t n = 0;
    ssize_t r;
    while (n < max && (r = read(fd, buf + n, max - n)) > 0)
        n += (size_t)r;
    return n;
}

static void test_order_and_flush(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct awriter *w;
    assert_int_equal(awriter_open(&w, p[1]), 0);
    char expect[4096] = "";
    for (int i = 0; i < 200; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        awriter_write(w, line, (size_t)n);
        strcat(expect, line);
    }
    awriter_flush(w);
    awriter_close(w);
    close(p[1]);
    char got[4096];
    size_t n = read_all(p[0], got, sizeof got);
    close(p[0]);
    assert_int_equal(n, strlen(expect));
    assert_memory_equal(got, expect, n);
}

/* A reader that does not read: the writer thread blocks in write(2), callers go on, and what
 * does not fit in the queue is dropped whole. */
static void test_full_queue_drops_whole_buffers(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    struct awriter *w;
    assert_int_equal(awriter_open(&w, p[1]), 0);
    static char chunk[16384];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 16; i++) /* 256 KiB against a 4 KiB pipe and a 64 KiB queue */
        awriter_write(w, chunk, sizeof chunk);
    uint64_t dropped = awriter_dropped(w);
    assert_true(dropped > 0);
    assert_int_equal(dropped % sizeof chunk, 0);
    /* Drain the pipe so that the writer can finish; everything not dropped arrives. */
    int fl = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
    size_t total = 0;
    static char sink[65536];
    while (total + dropped < 16 * sizeof chunk) {
        ssize_t r = read(p[0], sink, sizeof sink);
        if (r > 0)
            total += (size_t)r;
        else
            usleep(1000);
    }
    awriter_close(w);
    close(p[1]);
    close(p[0]);
    assert_int_equal(total + dropped, 16 * sizeof chunk);
}

static void test_close_writes_what_is_queued(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct awriter *w;
    assert_int_equal(awriter_open(&w, p[1]), 0);
    awriter_write(w, "last words\n", 11);
    awriter_close(w);
    awriter_close(NULL);
    close(p[1]);
    char got[32];
    assert_int_equal(read_all(p[0], got, sizeof got), 11);
    assert_memory_equal(got, "last words\n", 11);
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_flush),
        cmocka_unit_test(test_full_queue_drops_whole_buffers),
        cmocka_unit_test(test_close_writes_what_is_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
