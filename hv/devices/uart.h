/* uart.h: a 16550A-compatible UART model at I/O ports 0x3f8-0x3ff (COM1, IRQ 4). */
#ifndef HV_UART_H
#define HV_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_COM1_BASE 0x3f8u
#define UART_COM1_IRQ  4u

struct uart_ops {
    void (*tx)(void *ctx, uint8_t byte);  /* a byte the guest sent */
    bool (*rx)(void *ctx, uint8_t *byte); /* next input byte, if any */
    bool (*rx_ready)(void *ctx);          /* input waiting? */
    void (*irq)(void *ctx, bool level);   /* drive the interrupt line */
};

struct uart {
    const struct uart_ops *ops;
    void *ctx;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thr_interrupt; /* THR-empty interrupt pending until IIR is read or THR written */
    bool irq_level;
    bool loop_byte_valid;
    uint8_t loop_byte; /* loopback mode: the byte the guest sent to itself */
};

void uart_init(struct uart *u, const struct uart_ops *ops, void *ctx);
/* A port access at base + offset (0..7); returns the value for reads. */
uint8_t uart_read(struct uart *u, unsigned offset);
void uart_write(struct uart *u, unsigned offset, uint8_t value);
/* Re-evaluates the interrupt line, e.g. after new input arrived. */
void uart_update_irq(struct uart *u);

#endif
