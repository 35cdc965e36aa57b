/* test_gdb_proto.c: the GDB protocol core over fake registers and memory, hostile input included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug/gdb_proto.h"

#define MEM_BASE 0x400000ull
#define MEM_SIZE 0x2000ull

struct fake {
    char out[16384];
    size_t out_len;
    struct gdb_amd64_regs regs[2];
    uint8_t mem[MEM_SIZE];
    int resumes, interrupts, detaches;
    struct gdb_resume last;
    bool kill;
};

static int f_send(void *ctx, const void *buf, size_t len)
{
    struct fake *f = ctx;
    assert_true(f->out_len + len < sizeof f->out);
    memcpy(f->out + f->out_len, buf, len);
    f->out_len += len;
    f->out[f->out_len] = '\0';
    return 0;
}

static int f_get_regs(void *ctx, int t, struct gdb_amd64_regs *r)
{
    struct fake *f = ctx;
    assert_true(t >= 1 && t <= 2);
    *r = f->regs[t - 1];
    return 0;
}

static int f_set_regs(void *ctx, int t, const struct gdb_amd64_regs *r)
{
    struct fake *f = ctx;
    f->regs[t - 1] = *r;
    return 0;
}

static long f_read(void *ctx, int t, uint64_t a, void *buf, size_t len)
{
    struct fake *f = ctx;
    (void)t;
    if (a < MEM_BASE || a >= MEM_BASE + MEM_SIZE)
        return -1;
    size_t n = len < MEM_BASE + MEM_SIZE - a ? len : (size_t)(MEM_BASE + MEM_SIZE - a);
    memcpy(buf, f->mem + (a - MEM_BASE), n);
    return (long)n;
}

static long f_write(void *ctx, int t, uint64_t a, const void *buf, size_t len)
{
    struct fake *f = ctx;
    (void)t;
    if (a < MEM_BASE || a >= MEM_BASE + MEM_SIZE || len > MEM_BASE + MEM_SIZE - a)
        return -1;
    memcpy(f->mem + (a - MEM_BASE), buf, len);
    return (long)len;
}

static int f_resume(void *ctx, const struct gdb_resume *how)
{
    struct fake *f = ctx;
    f->resumes++;
    f->last = *how;
    return 0;
}

static int f_interrupt(void *ctx)
{
    ((struct fake *)ctx)->interrupts++;
    return 0;
}

static void f_detach(void *ctx, bool kill)
{
    struct fake *f = ctx;
    f->detaches++;
    f->kill = kill;
}

struct fx {
    struct fake f;
    struct gdb_target t;
    struct gdb_session s;
};

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->t = (struct gdb_target){&x->f,  2,       f_send,   f_get_regs,  f_set_regs,
                               f_read, f_write, f_resume, f_interrupt, f_detach};
    for (int i = 0; i < 16; i++)
        x->f.regs[0].gpr[i] = 0x1000 + (uint64_t)i;
    x->f.regs[0].rip = 0x401234;
    x->f.regs[0].eflags = 0x202;
    x->f.regs[0].seg[0] = 0x2b;
    x->f.regs[1].rip = 0x405678;
    for (size_t i = 0; i < MEM_SIZE; i++)
        x->f.mem[i] = (uint8_t)i;
    gdb_session_init(&x->s, &x->t);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* Sends payload as one well-formed packet; returns the reply payload (acks stripped). */
static const char *ask(struct fx *x, const char *payload)
{
    char pkt[GDB_PACKET_MAX * 2 + 16];
    uint8_t sum = 0;
    for (const char *p = payload; *p; p++)
        sum += (uint8_t)*p;
    int n = snprintf(pkt, sizeof pkt, "$%s#%02x", payload, sum);
    x->f.out_len = 0;
    x->f.out[0] = '\0';
    gdb_input(&x->s, (const uint8_t *)pkt, (size_t)n);
    static char reply[16384];
    const char *d = strchr(x->f.out, '$');
    const char *h = d ? strrchr(d, '#') : NULL;
    if (!d || !h)
        return NULL;
    memcpy(reply, d + 1, (size_t)(h - d - 1));
    reply[h - d - 1] = '\0';
    return reply;
}

static void test_framing_acks_and_noack(void **state)
{
    struct fx *x = *state;
    assert_string_equal(ask(x, "qSupported:multiprocess+;swbreak+"),
                        "PacketSize=1000;QStartNoAckMode+;vContSupported+");
    assert_int_equal(x->f.out[0], '+');
    assert_string_equal(ask(x, "QStartNoAckMode"), "OK");
    assert_int_equal(x->f.out[0], '+'); /* the switch itself is still acknowledged */
    assert_string_equal(ask(x, "?"), "T05thread:1;");
    assert_int_equal(x->f.out[0], '$'); /* no more acks */
}

static void test_bad_checksum_and_resend(void **state)
{
    struct fx *x = *state;
    gdb_input(&x->s, (const uint8_t *)"$?#00", 5);
    assert_string_equal(x->f.out, "-");
    assert_int_equal(x->s.bad_checksums, 1);
    gdb_input(&x->s, (const uint8_t *)"$g#zz", 5); /* not hex */
    assert_int_equal(x->s.bad_checksums, 2);
    assert_non_null(ask(x, "qC"));
    x->f.out_len = 0;
    gdb_input(&x->s, (const uint8_t *)"-", 1); /* the client wants it again */
    assert_string_equal(x->f.out, "$QC1#c5");
}

static void test_garbage_and_unknown(void **state)
{
    struct fx *x = *state;
    uint8_t junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    gdb_input(&x->s, junk, sizeof junk);
    assert_false(x->s.detached);
    assert_string_equal(ask(x, "qC"), "QC1"); /* the receiver recovered at the next '$' */
    assert_string_equal(ask(x, "vMustReplyEmpty"), "");
    assert_string_equal(ask(x, "Xunknown"), "");
    assert_string_equal(ask(x, ""), "");
}

static void test_oversized_packet(void **state)
{
    struct fx *x = *state;
    char *big = malloc(GDB_PACKET_MAX + 100);
    assert_non_null(big);
    memset(big, 'm', GDB_PACKET_MAX + 99);
    big[GDB_PACKET_MAX + 99] = '\0';
    assert_string_equal(ask(x, big), "E07");
    assert_int_equal(x->s.oversized, 1);
    free(big);
    assert_string_equal(ask(x, "qC"), "QC1");
}

static void test_escapes(void **state)
{
    struct fx *x = *state;
    /* "M400000,1:7d" with the '}' escaped in transit is an ordinary write. */
    const char *raw = "$M400000,1:}]d#";
    uint8_t sum = 0;
    for (const char *p = raw + 1; *p != '#'; p++)
        sum += (uint8_t)*p;
    char pkt[64];
    int n = snprintf(pkt, sizeof pkt, "%s%02x", raw, sum);
    x->f.out_len = 0;
    gdb_input(&x->s, (const uint8_t *)pkt, (size_t)n);
    assert_string_equal(x->f.out, "+$E01#a6"); /* "}d" is not hex: the escape was decoded */
}

static void test_registers(void **state)
{
    struct fx *x = *state;
    const char *g = ask(x, "g");
    assert_int_equal(strlen(g), 2 * GDB_REGS_SIZE);
    assert_memory_equal(g, "0010000000000000", 16);       /* rax, little-endian */
    assert_memory_equal(g + 256, "3412400000000000", 16); /* rip */
    assert_memory_equal(g + 272, "02020000", 8);          /* eflags */
    assert_memory_equal(g + 280, "2b000000", 8);          /* cs */
    assert_string_equal(ask(x, "p10"), "3412400000000000");
    assert_string_equal(ask(x, "p7"), "0710000000000000"); /* rsp */
    assert_string_equal(ask(x, "p39"), "E16");             /* 57 registers */
    assert_string_equal(ask(x, "pzz"), "E16");
    assert_string_equal(ask(x, "P10=efbeadde00000000"), "OK");
    assert_int_equal(x->f.regs[0].rip, 0xdeadbeef);
    assert_string_equal(ask(x, "P10=efbe"), "E01");
    assert_string_equal(ask(x, "Hg2"), "OK");
    assert_string_equal(ask(x, "p10"), "7856400000000000");
    assert_string_equal(ask(x, "Hg3"), "E16");
    assert_string_equal(ask(x, "G00"), "E01");
    char G[2 * GDB_REGS_SIZE + 2] = "G";
    memset(G + 1, '1', 2 * GDB_REGS_SIZE);
    assert_string_equal(ask(x, G), "OK");
    assert_int_equal(x->f.regs[1].rip, 0x1111111111111111ull);
    G[5] = 'x';
    assert_string_equal(ask(x, G), "E01");
}

static void test_memory(void **state)
{
    struct fx *x = *state;
    assert_string_equal(ask(x, "m400010,4"), "10111213");
    assert_string_equal(ask(x, "m401ffe,8"), "feff"); /* short at the end of memory */
    assert_string_equal(ask(x, "m500000,4"), "E0e");
    assert_string_equal(ask(x, "mffffffffffffffff,2"), "E01");  /* wraps */
    assert_string_equal(ask(x, "m10000000000000000,1"), "E01"); /* 65 bits */
    assert_string_equal(ask(x, "m400000"), "E01");
    assert_string_equal(ask(x, "m40g000,1"), "E01");
    assert_string_equal(ask(x, "m400000,0"), "");
    const char *big = ask(x, "m400000,100000"); /* capped to what fits a packet */
    assert_int_equal(strlen(big), GDB_PACKET_MAX);
    assert_string_equal(ask(x, "M400000,2:abcd"), "OK");
    assert_int_equal(x->f.mem[0], 0xab);
    assert_int_equal(x->f.mem[1], 0xcd);
    assert_string_equal(ask(x, "M400000,2:abc"), "E01");
    assert_string_equal(ask(x, "M400000,2:abzz"), "E01");
    assert_string_equal(ask(x, "M500000,1:00"), "E0e");
    assert_string_equal(ask(x, "M400000,1"), "E01");
}

static void test_sw_breakpoints(void **state)
{
    struct fx *x = *state;
    assert_string_equal(ask(x, "Z0,400100,1"), "OK");
    assert_int_equal(x->f.mem[0x100], 0xcc);
    assert_string_equal(ask(x, "m4000ff,3"), "ff0001"); /* gdb sees the original byte */
    assert_string_equal(ask(x, "Z0,400100,1"), "OK");   /* twice: still one */
    assert_int_equal(x->s.nsw, 1);
    assert_string_equal(ask(x, "Z0,900000,1"), "E0e");
    assert_null(ask(x, "c")); /* no reply until the target stops */
    assert_true(x->f.last.sw_bp);
    assert_string_equal(ask(x, "g"), "E05"); /* running: all-stop */
    gdb_stopped(&x->s, 1, GDB_SIGTRAP);
    assert_non_null(strstr(x->f.out, "T05thread:1;"));
    assert_string_equal(ask(x, "z0,400100,1"), "OK");
    assert_int_equal(x->f.mem[0x100], 0x00);
    assert_string_equal(ask(x, "z0,400100,1"), "OK");
    assert_string_equal(ask(x, "Z0,400200,1"), "OK");
    gdb_session_end(&x->s); /* the client vanished: memory is as it was */
    assert_int_equal(x->f.mem[0x200], 0x00);
}

static void test_hw_breakpoints(void **state)
{
    struct fx *x = *state;
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "Z1,40%x000,1", i);
        assert_string_equal(ask(x, p), "OK");
    }
    assert_string_equal(ask(x, "Z1,500000,1"), "E1c");
    assert_string_equal(ask(x, "z1,401000,1"), "OK");
    assert_string_equal(ask(x, "Z2,400000,4"), ""); /* watchpoints: gdb falls back */
    assert_string_equal(ask(x, "Z9,400000,4"), "E01");
    assert_string_equal(ask(x, "Z1,zz,1"), "E01");
    assert_null(ask(x, "vCont;c"));
    assert_int_equal(x->f.last.nhw, 3);
    assert_int_equal(x->f.last.step_thread, 0);
}

static void test_step_vcont_and_interrupt(void **state)
{
    struct fx *x = *state;
    assert_string_equal(ask(x, "vCont?"), "vCont;c;C;s;S");
    assert_null(ask(x, "vCont;s:2;c"));
    assert_int_equal(x->f.last.step_thread, 2);
    gdb_stopped(&x->s, 2, GDB_SIGTRAP);
    assert_string_equal(ask(x, "qC"), "QC2");
    assert_string_equal(ask(x, "vCont;s:9"), "E01");
    assert_string_equal(ask(x, "vCont;x"), "E01");
    assert_null(ask(x, "vCont;C05:1"));
    x->f.out_len = 0;
    gdb_input(&x->s, (const uint8_t *)"\x03", 1);
    assert_int_equal(x->f.interrupts, 1);
    gdb_stopped(&x->s, 1, GDB_SIGINT);
    assert_non_null(strstr(x->f.out, "T02thread:1;"));
    gdb_input(&x->s, (const uint8_t *)"\x03", 1); /* stopped already: nothing to do */
    assert_int_equal(x->f.interrupts, 1);
    assert_null(ask(x, "s"));
    assert_int_equal(x->f.last.step_thread, 1);
}

static void test_threads_and_detach(void **state)
{
    struct fx *x = *state;
    assert_string_equal(ask(x, "qfThreadInfo"), "m1,2");
    assert_string_equal(ask(x, "qsThreadInfo"), "l");
    assert_string_equal(ask(x, "qAttached"), "1");
    assert_string_equal(ask(x, "T2"), "OK");
    assert_string_equal(ask(x, "T3"), "E16");
    assert_string_equal(ask(x, "T0"), "E16");
    assert_string_equal(ask(x, "Hc-1"), "OK");
    assert_string_equal(ask(x, "Hg0"), "OK");
    assert_string_equal(ask(x, "Hx1"), "E16");
    assert_string_equal(ask(x, "Z0,400300,1"), "OK");
    assert_string_equal(ask(x, "D"), "OK");
    assert_int_equal(x->f.detaches, 1);
    assert_false(x->f.kill);
    assert_int_equal(x->f.mem[0x300], 0x00);
    assert_true(x->s.detached);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_framing_acks_and_noack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_checksum_and_resend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sw_breakpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hw_breakpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_vcont_and_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_and_detach, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
