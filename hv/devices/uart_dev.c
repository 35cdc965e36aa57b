/* uart_dev.c: COM1 on a VM: the 16550A model wired to the VM's console and its IRQ line. */
#include "devices/uart_dev.h"

#include "devices/uart.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct uart_dev {
    struct vm *vm;
    pthread_mutex_t lock; /* vCPU threads, console input and resets meet here */
    struct uart uart;
};

static void tx(void *ctx, uint8_t byte)
{
    struct uart_dev *d = ctx;
    vm_console_out(d->vm, &byte, 1);
}

static bool rx(void *ctx, uint8_t *byte)
{
    struct uart_dev *d = ctx;
    return console_input_pop(&d->vm->console, byte, 1) == 1;
}

static bool rx_ready(void *ctx)
{
    struct uart_dev *d = ctx;
    return console_input_pending(&d->vm->console) > 0;
}

static void irq(void *ctx, bool level)
{
    struct uart_dev *d = ctx;
    vm_irq_line(d->vm, UART_COM1_IRQ, level);
}

static const struct uart_ops console_ops = {tx, rx, rx_ready, irq};

static int create(struct vm *vm, void **ctx, char *err, size_t errlen)
{
    struct uart_dev *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "uart: out of memory");
        return -1;
    }
    d->vm = vm;
    pthread_mutex_init(&d->lock, NULL);
    uart_init(&d->uart, &console_ops, d);
    *ctx = d;
    return 0;
}

static void destroy(void *ctx)
{
    struct uart_dev *d = ctx;
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* Byte-wide registers: of each (rep) access only the first byte counts, as before. */
static void io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    struct uart_dev *d = ctx;
    (void)v;
    unsigned offset = (unsigned)(io->addr - UART_COM1_BASE);
    pthread_mutex_lock(&d->lock);
    for (uint32_t i = 0; i < io->count; i++) {
        uint8_t *p = io->data + (size_t)i * io->size;
        if (io->write)
            uart_write(&d->uart, offset, *p);
        else
            *p = uart_read(&d->uart, offset);
    }
    pthread_mutex_unlock(&d->lock);
}

/* The reset VM has a new irqchip with the line low: the model starts from power-on too. */
static void reset(void *ctx)
{
    struct uart_dev *d = ctx;
    pthread_mutex_lock(&d->lock);
    uart_init(&d->uart, &console_ops, d);
    pthread_mutex_unlock(&d->lock);
}

static void console_input(void *ctx)
{
    struct uart_dev *d = ctx;
    pthread_mutex_lock(&d->lock);
    uart_update_irq(&d->uart);
    pthread_mutex_unlock(&d->lock);
}

const struct dev_model uart_com1_device = {
    .name = "uart",
    .ranges = (const struct dev_range[]){{DEV_PIO, UART_COM1_BASE, UART_COM1_BASE + 7}},
    .nranges = 1,
    .create = create,
    .destroy = destroy,
    .io = io,
    .reset = reset,
    .console_input = console_input,
};
