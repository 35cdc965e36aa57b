/* test_uart.c: the 16550A register model against fake host callbacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/uart.h"

#define RBR 0 /* also THR, DLL */
#define IER 1 /* also DLM */
#define IIR 2 /* also FCR */
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define LSR_IDLE 0x60 /* THRE | TEMT */
#define LSR_DR   0x01

/* The host side: records transmitted bytes and interrupt-line changes, serves queued input. */
struct fake {
    uint8_t tx[64];
    size_t ntx;
    uint8_t in[64];
    size_t in_head, in_len;
    size_t rx_calls;
    bool level;
    int raises, lowers;
};

static void fake_tx(void *ctx, uint8_t byte)
{
    struct fake *f = ctx;
    assert_true(f->ntx < sizeof f->tx);
    f->tx[f->ntx++] = byte;
}

static bool fake_rx(void *ctx, uint8_t *byte)
{
    struct fake *f = ctx;
    f->rx_calls++;
    if (f->in_head == f->in_len)
        return false;
    *byte = f->in[f->in_head++];
    return true;
}

static bool fake_rx_ready(void *ctx)
{
    struct fake *f = ctx;
    return f->in_head < f->in_len;
}

static void fake_irq(void *ctx, bool level)
{
    struct fake *f = ctx;
    /* The model must only call us when the line actually changes. */
    assert_int_not_equal(level, f->level);
    f->level = level;
    if (level)
        f->raises++;
    else
        f->lowers++;
}

static const struct uart_ops fake_ops = {
    .tx = fake_tx, .rx = fake_rx, .rx_ready = fake_rx_ready, .irq = fake_irq};

static void push_input(struct fake *f, const char *s)
{
    size_t n = strlen(s);
    assert_true(f->in_len + n <= sizeof f->in);
    memcpy(f->in + f->in_len, s, n);
    f->in_len += n;
}

static void setup_uart(struct uart *u, struct fake *f)
{
    memset(f, 0, sizeof *f);
    uart_init(u, &fake_ops, f);
}

static void test_reset_state(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    assert_int_equal(uart_read(&u, IER), 0);
    assert_int_equal(uart_read(&u, IIR), 0x01); /* no interrupt pending */
    assert_int_equal(uart_read(&u, LCR), 0);
    assert_int_equal(uart_read(&u, MCR), 0);
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE);
    assert_int_equal(uart_read(&u, MSR), 0xb0); /* DCD, DSR, CTS */
    assert_int_equal(f.raises + f.lowers, 0);
}

static void test_thr_write_calls_tx(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    uart_write(&u, RBR, 'h');
    uart_write(&u, RBR, 'i');
    uart_write(&u, RBR, 0x00);
    uart_write(&u, RBR, 0xff);
    assert_int_equal(f.ntx, 4);
    assert_memory_equal(f.tx, "hi\0\xff", 4);
    /* Writes to other registers transmit nothing. */
    uart_write(&u, SCR, 'x');
    uart_write(&u, LSR, 'x');
    uart_write(&u, MSR, 'x');
    assert_int_equal(f.ntx, 4);
    assert_int_equal(f.raises, 0); /* IER is 0: no interrupt */
}

static void test_lsr_data_ready(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE);
    push_input(&f, "ab");
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE | LSR_DR);
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE | LSR_DR); /* reading LSR consumes nothing */
    assert_int_equal(uart_read(&u, RBR), 'a');
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE | LSR_DR);
    assert_int_equal(uart_read(&u, RBR), 'b');
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE);
}

static void test_rbr_pops_input(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    push_input(&f, "xyz");
    assert_int_equal(uart_read(&u, RBR), 'x');
    assert_int_equal(uart_read(&u, RBR), 'y');
    assert_int_equal(uart_read(&u, RBR), 'z');
    assert_int_equal(f.in_head, 3);
    assert_int_equal(uart_read(&u, RBR), 0); /* empty: reads 0 */
    assert_int_equal(f.rx_calls, 4);
}

static void test_dlab_divisor_latch(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    uart_write(&u, LCR, 0x83); /* DLAB, 8N1 */
    assert_int_equal(uart_read(&u, LCR), 0x83);
    assert_int_equal(uart_read(&u, RBR), 12); /* 9600 baud reset default */
    assert_int_equal(uart_read(&u, IER), 0);
    uart_write(&u, RBR, 0x01); /* 115200 baud */
    uart_write(&u, IER, 0x02);
    assert_int_equal(uart_read(&u, RBR), 0x01);
    assert_int_equal(uart_read(&u, IER), 0x02);
    assert_int_equal(f.ntx, 0); /* the DLL write did not transmit */
    push_input(&f, "q");
    assert_int_equal(uart_read(&u, RBR), 0x01); /* DLL, not input */
    assert_int_equal(f.in_head, 0);
    assert_int_equal(f.raises, 0); /* the DLM write did not enable interrupts */

    uart_write(&u, LCR, 0x03); /* DLAB off */
    assert_int_equal(uart_read(&u, IER), 0);
    assert_int_equal(uart_read(&u, RBR), 'q');
    uart_write(&u, RBR, 'z');
    assert_int_equal(f.ntx, 1);
    assert_int_equal(f.tx[0], 'z');
    /* The divisor survives. */
    uart_write(&u, LCR, 0x80);
    assert_int_equal(uart_read(&u, RBR), 0x01);
    assert_int_equal(uart_read(&u, IER), 0x02);
}

static void test_scratch_round_trip(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    assert_int_equal(uart_read(&u, SCR), 0);
    uart_write(&u, SCR, 0x5a);
    assert_int_equal(uart_read(&u, SCR), 0x5a);
    uart_write(&u, SCR, 0xa5);
    assert_int_equal(uart_read(&u, SCR), 0xa5);
    uart_write(&u, LCR, 0x80); /* DLAB does not hide the scratch register */
    assert_int_equal(uart_read(&u, SCR), 0xa5);
}

static void test_ier_masked(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    uart_write(&u, IER, 0xf5);
    assert_int_equal(uart_read(&u, IER), 0x05);
    uart_write(&u, MCR, 0xff);
    assert_int_equal(uart_read(&u, MCR), 0x1f);
}

static void test_iir_rdi(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    push_input(&f, "k");
    uart_update_irq(&u);
    assert_int_equal(uart_read(&u, IIR), 0x01); /* RDI not enabled */
    assert_int_equal(f.raises, 0);

    uart_write(&u, IER, 0x01);
    assert_true(f.level);
    assert_int_equal(f.raises, 1);
    assert_int_equal(uart_read(&u, IIR), 0x04);
    assert_int_equal(uart_read(&u, IIR), 0x04); /* reading IIR does not acknowledge RDI */
    assert_true(f.level);

    assert_int_equal(uart_read(&u, RBR), 'k');
    assert_false(f.level);
    assert_int_equal(f.lowers, 1);
    assert_int_equal(uart_read(&u, IIR), 0x01);

    /* Input arriving later raises the line once uart_update_irq is called. */
    push_input(&f, "m");
    assert_false(f.level);
    uart_update_irq(&u);
    assert_true(f.level);
    uart_update_irq(&u); /* no change: no callback */
    assert_int_equal(f.raises, 2);
    assert_int_equal(uart_read(&u, RBR), 'm');
    assert_int_equal(f.lowers, 2);
}

static void test_iir_thri(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    /* Enabling THRI with an empty THR raises it at once. */
    uart_write(&u, IER, 0x02);
    assert_true(f.level);
    assert_int_equal(uart_read(&u, IIR), 0x02);
    assert_false(f.level); /* the IIR read acknowledged it */
    assert_int_equal(uart_read(&u, IIR), 0x01);

    /* A THR write raises it again. */
    uart_write(&u, RBR, 'a');
    assert_true(f.level);
    assert_int_equal(uart_read(&u, IIR), 0x02);
    assert_int_equal(uart_read(&u, IIR), 0x01);
    assert_false(f.level);
    assert_int_equal(f.raises, 2);
    assert_int_equal(f.lowers, 2);

    /* Rewriting IER with THRI already on does not re-raise it. */
    uart_write(&u, IER, 0x02);
    assert_int_equal(uart_read(&u, IIR), 0x01);
    assert_int_equal(f.raises, 2);

    /* Disabling THRI lowers a pending one. */
    uart_write(&u, RBR, 'b');
    assert_true(f.level);
    uart_write(&u, IER, 0x00);
    assert_false(f.level);
    assert_int_equal(uart_read(&u, IIR), 0x01);
}

static void test_iir_thri_disabled(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    uart_write(&u, RBR, 'a');
    assert_int_equal(uart_read(&u, IIR), 0x01);
    assert_int_equal(f.raises, 0);
}

static void test_iir_priority(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    push_input(&f, "r");
    uart_write(&u, IER, 0x03);
    assert_int_equal(f.raises, 1);
    assert_int_equal(uart_read(&u, IIR), 0x04); /* RDI outranks THRI */
    assert_int_equal(uart_read(&u, RBR), 'r');
    assert_true(f.level); /* THRI still pending: no lower in between */
    assert_int_equal(f.lowers, 0);
    assert_int_equal(uart_read(&u, IIR), 0x02);
    assert_false(f.level);
    assert_int_equal(f.raises, 1);
    assert_int_equal(f.lowers, 1);
}

static void test_iir_fifo_bits(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    uart_write(&u, IIR, 0xc7); /* FCR: FIFO on, clear both FIFOs, 14-byte trigger */
    assert_int_equal(uart_read(&u, IIR), 0xc1);
    push_input(&f, "z");
    uart_write(&u, IER, 0x01);
    assert_int_equal(uart_read(&u, IIR), 0xc4);
    uart_write(&u, IIR, 0x00);
    assert_int_equal(uart_read(&u, IIR), 0x04);
}

static void test_loopback(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    push_input(&f, "h"); /* host input is invisible in loopback */
    uart_write(&u, MCR, 0x10);
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE);
    uart_write(&u, RBR, 'L');
    assert_int_equal(f.ntx, 0); /* not transmitted */
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE | LSR_DR);
    assert_int_equal(uart_read(&u, RBR), 'L');
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE);
    assert_int_equal(uart_read(&u, RBR), 0);
    assert_int_equal(f.in_head, 0);
    assert_int_equal(f.rx_calls, 0);

    /* The later byte replaces an unread one. */
    uart_write(&u, RBR, '1');
    uart_write(&u, RBR, '2');
    assert_int_equal(uart_read(&u, RBR), '2');

    /* Leaving loopback brings host input back. */
    uart_write(&u, MCR, 0x00);
    assert_int_equal(uart_read(&u, LSR), LSR_IDLE | LSR_DR);
    assert_int_equal(uart_read(&u, RBR), 'h');
}

static void test_loopback_msr(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    static const struct {
        uint8_t mcr, msr;
    } cases[] = {
        {0x10, 0x00}, /* nothing asserted */
        {0x11, 0x20}, /* DTR -> DSR */
        {0x12, 0x10}, /* RTS -> CTS */
        {0x14, 0x40}, /* OUT1 -> RI */
        {0x18, 0x80}, /* OUT2 -> DCD */
        {0x1f, 0xf0}, /* all four */
        {0x1a, 0x90}, /* RTS + OUT2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uart_write(&u, MCR, cases[i].mcr);
        assert_int_equal(uart_read(&u, MCR), cases[i].mcr);
        assert_int_equal(uart_read(&u, MSR), cases[i].msr);
    }
    uart_write(&u, MCR, 0x0f); /* not loopback: the cable's lines */
    assert_int_equal(uart_read(&u, MSR), 0xb0);
}

static void test_loopback_irq(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    uart_write(&u, MCR, 0x10);
    uart_write(&u, IER, 0x01);
    assert_int_equal(f.raises, 0);
    uart_write(&u, RBR, 'x');
    assert_true(f.level);
    assert_int_equal(uart_read(&u, IIR), 0x04);
    assert_int_equal(uart_read(&u, RBR), 'x');
    assert_false(f.level);
    assert_int_equal(f.raises, 1);
    assert_int_equal(f.lowers, 1);
}

static void test_irq_only_on_change(void **state)
{
    (void)state;
    struct uart u;
    struct fake f;
    setup_uart(&u, &f);
    /* Lots of accesses that leave the line low: no callbacks at all. */
    for (unsigned off = 0; off < 8; off++)
        (void)uart_read(&u, off);
    uart_write(&u, SCR, 1);
    uart_write(&u, LCR, 3);
    uart_update_irq(&u);
    assert_int_equal(f.raises + f.lowers, 0);

    push_input(&f, "abc");
    uart_write(&u, IER, 0x01); /* raise */
    for (int i = 0; i < 5; i++) {
        (void)uart_read(&u, LSR);
        (void)uart_read(&u, IIR);
        uart_update_irq(&u);
    }
    assert_int_equal(uart_read(&u, RBR), 'a');
    assert_int_equal(uart_read(&u, RBR), 'b');
    assert_int_equal(f.raises, 1);
    assert_int_equal(f.lowers, 0);
    assert_int_equal(uart_read(&u, RBR), 'c'); /* lower */
    assert_int_equal(f.raises, 1);
    assert_int_equal(f.lowers, 1);
    assert_false(u.irq_level);
}

static void test_no_irq_callback(void **state)
{
    (void)state;
    static const struct uart_ops ops = {
        .tx = fake_tx, .rx = fake_rx, .rx_ready = fake_rx_ready, .irq = NULL};
    struct uart u;
    struct fake f;
    memset(&f, 0, sizeof f);
    uart_init(&u, &ops, &f);
    uart_write(&u, IER, 0x02);
    assert_true(u.irq_level); /* tracked even without a callback */
    assert_int_equal(uart_read(&u, IIR), 0x02);
    assert_false(u.irq_level);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_state),        cmocka_unit_test(test_thr_write_calls_tx),
        cmocka_unit_test(test_lsr_data_ready),     cmocka_unit_test(test_rbr_pops_input),
        cmocka_unit_test(test_dlab_divisor_latch), cmocka_unit_test(test_scratch_round_trip),
        cmocka_unit_test(test_ier_masked),         cmocka_unit_test(test_iir_rdi),
        cmocka_unit_test(test_iir_thri),           cmocka_unit_test(test_iir_thri_disabled),
        cmocka_unit_test(test_iir_priority),       cmocka_unit_test(test_iir_fifo_bits),
        cmocka_unit_test(test_loopback),           cmocka_unit_test(test_loopback_msr),
        cmocka_unit_test(test_loopback_irq),       cmocka_unit_test(test_irq_only_on_change),
        cmocka_unit_test(test_no_irq_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
