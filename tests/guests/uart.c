/* uart.c: test guest: talks only through the 16550 UART at 0x3f8 by polling, like early boot code.
 */
#include "rt.h"

#define COM1 0x3f8

static void uart_putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (uint8_t)c);
}

static void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

int guest_main(const struct vigil_boot_info *bi)
{
    (void)bi;
    outb(COM1 + 7, 0x5a);
    if (inb(COM1 + 7) != 0x5a)
        rt_halt(1, "scratch register lost its value");
    uart_puts("uart: hello through the 16550\n");
    for (;;) {
        if (inb(COM1 + 5) & 0x01) {
            char c = (char)inb(COM1);
            if (c == 'q')
                rt_halt(0, "uart: q received");
            uart_puts("uart: got ");
            uart_putc(c);
            uart_putc('\n');
        } else {
            rt_wait(rt_monotonic_ns() + 100000000ull, VIGIL_EV_CONSOLE_IN);
        }
    }
}
