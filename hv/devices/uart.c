/* uart.c: the 16550A register model; enough for Linux's 8250 driver and for polled guests. */
#include "devices/uart.h"

#include <string.h>

#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define IER_RDI  0x01
#define IER_THRI 0x02
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define FCR_FIFO 0x01

void uart_init(struct uart *u, const struct uart_ops *ops, void *ctx)
{
    memset(u, 0, sizeof *u);
    u->ops = ops;
    u->ctx = ctx;
    u->dll = 12; /* 9600 baud, the PC reset default */
}

static bool rx_ready(struct uart *u)
{
    if (u->mcr & MCR_LOOP)
        return u->loop_byte_valid;
    return u->ops->rx_ready(u->ctx);
}

static uint8_t iir(struct uart *u)
{
    uint8_t fifo = (u->fcr & FCR_FIFO) ? 0xc0 : 0;
    if ((u->ier & IER_RDI) && rx_ready(u))
        return IIR_RDI | fifo;
    if ((u->ier & IER_THRI) && u->thr_interrupt)
        return IIR_THRI | fifo;
    return IIR_NONE | fifo;
}

void uart_update_irq(struct uart *u)
{
    bool level = !(iir(u) & IIR_NONE);
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->ops->irq)
            u->ops->irq(u->ctx, level);
    }
}

static uint8_t modem_status(struct uart *u)
{
    if (!(u->mcr & MCR_LOOP))
        return 0xb0; /* DCD, DSR, CTS: a cable is attached */
    /* Loopback: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
    return (uint8_t)(((u->mcr & 0x02) << 3) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x04) << 4) |
                     ((u->mcr & 0x08) << 4));
}

uint8_t uart_read(struct uart *u, unsigned offset)
{
    uint8_t v = 0xff;
    switch (offset) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            v = u->dll;
        } else if (u->mcr & MCR_LOOP) {
            v = u->loop_byte_valid ? u->loop_byte : 0;
            u->loop_byte_valid = false;
        } else if (!u->ops->rx(u->ctx, &v)) {
            v = 0;
        }
        break;
    case 1:
        v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
        break;
    case 2:
        v = iir(u);
        if ((v & 0x0f) == IIR_THRI)
            u->thr_interrupt = false; /* reading IIR acknowledges THR empty */
        break;
    case 3:
        v = u->lcr;
        break;
    case 4:
        v = u->mcr;
        break;
    case 5:
        v = LSR_THRE | LSR_TEMT | (rx_ready(u) ? LSR_DR : 0);
        break;
    case 6:
        v = modem_status(u);
        break;
    case 7:
        v = u->scr;
        break;
    }
    uart_update_irq(u);
    return v;
}

void uart_write(struct uart *u, unsigned offset, uint8_t value)
{
    switch (offset) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            u->dll = value;
        } else if (u->mcr & MCR_LOOP) {
            u->loop_byte = value;
            u->loop_byte_valid = true;
            u->thr_interrupt = true;
        } else {
            u->ops->tx(u->ctx, value);
            u->thr_interrupt = true; /* transmitted at once: THR is empty again */
        }
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->dlm = value;
        } else {
            if (!(u->ier & IER_THRI) && (value & IER_THRI))
                u->thr_interrupt = true; /* enabling THRI with an empty THR raises it */
            u->ier = value & 0x0f;
        }
        break;
    case 2:
        u->fcr = value & 0xc9; /* FIFO enable, DMA mode, trigger level; reset bits self-clear */
        break;
    case 3:
        u->lcr = value;
        break;
    case 4:
        u->mcr = value & 0x1f;
        break;
    case 7:
        u->scr = value;
        break;
    default:
        break; /* LSR and MSR are read-only */
    }
    uart_update_irq(u);
}
