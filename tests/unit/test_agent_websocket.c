/* test_agent_websocket.c: the agent's RFC 6455 framing (websocket.c) and a console viewer's
 * bounded queues (console_viewer.c): skipping ahead with a notice at the gap, ring losses,
 * pings, closes and bad frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "console_viewer.h"
#include "websocket.h"

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    /* RFC 6455 section 1.3's example. */
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key("short==", out), -1);
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out), -1);
    assert_int_equal(ws_accept_key("!!!!!!!!!!!!!!!!!!!!!!==", out), -1);
}

/* A masked client frame into buf; returns its length. */
static size_t client_frame(uint8_t *buf, int first, const void *data, size_t n)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 2;
    buf[0] = (uint8_t)first;
    if (n < 126) {
        buf[1] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        buf[1] = 0x80 | 126, buf[2] = (uint8_t)(n >> 8), buf[3] = (uint8_t)n, h = 4;
    } else {
        buf[1] = 0x80 | 127, h = 10;
        for (int i = 0; i < 8; i++)
            buf[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    memcpy(buf + h, key, 4);
    for (size_t i = 0; i < n; i++)
        buf[h + 4 + i] = ((const uint8_t *)data)[i] ^ key[i & 3];
    return h + 4 + n;
}

static void test_parse(void **state)
{
    (void)state;
    /* RFC 6455 section 5.7: a masked "Hello". */
    uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct ws_frame f;
    const char *why = NULL;
    for (size_t n = 0; n < sizeof hello; n++)
        assert_int_equal(ws_parse(hello, n, 100, &f, &why), 0); /* not complete yet */
    assert_int_equal(ws_parse(hello, sizeof hello, 100, &f, &why), 1);
    assert_int_equal(f.op, WS_TEXT);
    assert_true(f.fin);
    assert_int_equal(f.len, 5);
    assert_memory_equal(f.payload, "Hello", 5);
    assert_int_equal(f.size, sizeof hello);

    static uint8_t big[70000], buf[70100];
    memset(big, 'x', sizeof big);
    size_t n = client_frame(buf, 0x82, big, 300); /* 16-bit length */
    assert_int_equal(ws_parse(buf, n, 1000, &f, &why), 1);
    assert_int_equal(f.len, 300);
    n = client_frame(buf, 0x82, big, sizeof big); /* 64-bit length */
    assert_int_equal(ws_parse(buf, n, sizeof big, &f, &why), 1);
    assert_int_equal(f.len, sizeof big);
    assert_memory_equal(f.payload, big, sizeof big);
    n = client_frame(buf, 0x82, big, 1001);
    assert_int_equal(ws_parse(buf, 4, 1000, &f, &why), WS_TOO_BIG); /* told from the header */
}

static void test_parse_refuses(void **state)
{
    (void)state;
    struct ws_frame f;
    const char *why;
    uint8_t unmasked[] = {0x81, 0x01, 'x'};
    assert_int_equal(ws_parse(unmasked, sizeof unmasked, 100, &f, &why), WS_PROTOCOL_ERROR);
    assert_non_null(strstr(why, "masked"));
    uint8_t buf[300];
    size_t n = client_frame(buf, 0x80 | 0x40 | WS_TEXT, "x", 1); /* RSV1 */
    assert_int_equal(ws_parse(buf, n, 100, &f, &why), WS_PROTOCOL_ERROR);
    n = client_frame(buf, 0x80 | 3, "x", 1); /* reserved opcode */
    assert_int_equal(ws_parse(buf, n, 100, &f, &why), WS_PROTOCOL_ERROR);
    uint8_t long_ping[200];
    memset(long_ping, 'p', sizeof long_ping);
    n = client_frame(buf, 0x80 | WS_PING, long_ping, 126);
    assert_int_equal(ws_parse(buf, n, 1000, &f, &why), WS_PROTOCOL_ERROR);
    n = client_frame(buf, WS_PING, "p", 1); /* a fragmented control frame */
    assert_int_equal(ws_parse(buf, n, 1000, &f, &why), WS_PROTOCOL_ERROR);
}

static void test_header(void **state)
{
    (void)state;
    uint8_t h[WS_HDR_MAX];
    assert_int_equal(ws_header(h, WS_BINARY, 125), 2);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_header(h, WS_TEXT, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 126);
    assert_int_equal(ws_header(h, WS_BINARY, 65536), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7], 1); /* 0x10000, big-endian */
}

/* A viewer on one end of a socketpair; *peer gets the other (the client's side). */
static struct viewer *new_viewer(int *peer)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    struct viewer *v = calloc(1, sizeof *v);
    v->fd = sp[0];
    *peer = sp[1];
    return v;
}

struct got {
    uint8_t *data; /* binary payloads, concatenated */
    size_t len;
    char notices[8][200];
    size_t notice_at[8]; /* where in data each notice came */
    int nnotices;
    int last_op;
    uint8_t last[200];
    size_t last_len;
};

/* Flushes v into the peer and parses every (unmasked) server frame that arrives. */
static void drain(struct viewer *v, int peer, struct got *g)
{
    static uint8_t in[1 << 20];
    size_t n = 0;
    for (int idle = 0; idle < 3;) {
        viewer_flush(v);
        ssize_t r = recv(peer, in + n, sizeof in - n, 0);
        if (r > 0)
            n += (size_t)r, idle = 0;
        else
            idle++;
    }
    size_t off = 0;
    while (off + 2 <= n) {
        size_t len = in[off + 1] & 0x7f, h = 2;
        if (len == 126)
            len = (size_t)in[off + 2] << 8 | in[off + 3], h = 4;
        else if (len == 127)
            len = (size_t)in[off + 8] << 8 | in[off + 9], h = 10; /* < 64 KiB here */
        int op = in[off] & 0x0f;
        const uint8_t *p = in + off + h;
        if (op == WS_BINARY) {
            g->data = realloc(g->data, g->len + len);
            memcpy(g->data + g->len, p, len);
            g->len += len;
        } else if (op == WS_TEXT && g->nnotices < 8) {
            snprintf(g->notices[g->nnotices], 200, "%.*s", (int)len, (const char *)p);
            g->notice_at[g->nnotices++] = g->len;
        }
        g->last_op = op;
        g->last_len = len < sizeof g->last ? len : sizeof g->last;
        memcpy(g->last, p, g->last_len);
        off += h + len;
    }
    assert_int_equal(off, n);
}

static void test_slow_viewer_skips_with_a_notice_at_the_gap(void **state)
{
    (void)state;
    int peer;
    struct viewer *v = new_viewer(&peer);
    static uint8_t a[100 * 1024], b[200 * 1024];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    viewer_push(v, a, sizeof a);
    viewer_push(v, b, sizeof b); /* 300 KiB > 256 KiB: the oldest 44 KiB go */
    struct got g = {0};
    drain(v, peer, &g);
    size_t lost = sizeof a + sizeof b - VIEWER_PEND_MAX;
    assert_int_equal(g.nnotices, 1);
    char want[120];
    snprintf(want, sizeof want, "{\"event\":\"skipped\",\"bytes\":%zu,\"reason\":\"slow-viewer\"}",
             lost);
    assert_string_equal(g.notices[0], want);
    assert_int_equal(g.notice_at[0], 0); /* before everything that was kept */
    assert_int_equal(g.len, VIEWER_PEND_MAX);
    assert_int_equal(g.data[0], 'a');
    assert_int_equal(g.data[sizeof a - lost - 1], 'a');
    assert_int_equal(g.data[sizeof a - lost], 'b');
    free(g.data);
    close(peer);
    close(v->fd);
    viewer_free(v);
}

static void test_ring_gap_sits_between_the_bytes(void **state)
{
    (void)state;
    int peer;
    struct viewer *v = new_viewer(&peer);
    viewer_push(v, (const uint8_t *)"before", 6);
    viewer_gap(v, 1234, 1);
    viewer_push(v, (const uint8_t *)"after", 5);
    struct got g = {0};
    drain(v, peer, &g);
    assert_int_equal(g.len, 11);
    assert_memory_equal(g.data, "beforeafter", 11);
    assert_int_equal(g.nnotices, 1);
    assert_string_equal(g.notices[0], "{\"event\":\"skipped\",\"bytes\":1234,\"reason\":\"ring\"}");
    assert_int_equal(g.notice_at[0], 6);
    free(g.data);
    close(peer);
    close(v->fd);
    viewer_free(v);
}

static const uint8_t *typed;
static size_t typed_len;

static void on_input(struct viewer *v, const uint8_t *data, size_t len)
{
    (void)v;
    typed = data, typed_len = len;
}

static void test_ping_input_and_close(void **state)
{
    (void)state;
    int peer;
    struct viewer *v = new_viewer(&peer);
    uint8_t buf[300];
    size_t n = client_frame(buf, 0x80 | WS_PING, "hi", 2);
    n += client_frame(buf + n, 0x80 | WS_BINARY, "ls\r", 3);
    assert_int_equal(send(peer, buf, n, 0), (ssize_t)n);
    viewer_read(v, on_input, 0);
    assert_int_equal(typed_len, 3);
    assert_memory_equal(typed, "ls\r", 3);
    struct got g = {0};
    drain(v, peer, &g);
    assert_int_equal(g.last_op, WS_PONG);
    assert_memory_equal(g.last, "hi", 2);
    /* The client closes with 1000: the same code comes back, the viewer is done. */
    n = client_frame(buf, 0x80 | WS_CLOSE, "\x03\xe8", 2);
    assert_int_equal(send(peer, buf, n, 0), (ssize_t)n);
    viewer_read(v, on_input, 5);
    assert_true(v->close_sent);
    drain(v, peer, &g);
    assert_int_equal(g.last_op, WS_CLOSE);
    assert_int_equal(g.last[0] << 8 | g.last[1], 1000);
    free(g.data);
    close(peer);
    close(v->fd);
    viewer_free(v);
}

static void test_bad_frame_closes_with_its_code(void **state)
{
    (void)state;
    int peer;
    struct viewer *v = new_viewer(&peer);
    uint8_t unmasked[] = {0x82, 0x01, 'x'};
    assert_int_equal(send(peer, unmasked, sizeof unmasked, 0), 3);
    viewer_read(v, on_input, 0);
    struct got g = {0};
    drain(v, peer, &g);
    assert_int_equal(g.last_op, WS_CLOSE);
    assert_int_equal(g.last[0] << 8 | g.last[1], WS_PROTOCOL_ERROR);
    /* Nothing more is framed after the close, whatever is pushed. */
    viewer_push(v, (const uint8_t *)"late", 4);
    drain(v, peer, &g);
    assert_int_equal(g.len, 0);
    close(peer);
    close(v->fd);
    viewer_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_slow_viewer_skips_with_a_notice_at_the_gap),
        cmocka_unit_test(test_ring_gap_sits_between_the_bytes),
        cmocka_unit_test(test_ping_input_and_close),
        cmocka_unit_test(test_bad_frame_closes_with_its_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
