/* rt.h: the freestanding runtime every Vigil guest links: hypercalls, console, formatting, time. */
#ifndef VIGIL_GUEST_RT_H
#define VIGIL_GUEST_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/hypercall.h>

/* Issues hypercall `nr` with argument structure `arg` (identity-mapped, so its
 * address is its guest-physical address). */
static inline void hc_call(unsigned nr, void *arg)
{
    __asm__ volatile("outl %0, %1"
                     :
                     : "a"((uint32_t)(uintptr_t)arg), "Nd"((uint16_t)(VIGIL_HC_PORT_BASE + nr))
                     : "memory");
}

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* Provided by each guest.  vCPU 0 calls guest_main; the others call
 * guest_secondary_main, whose default parks the vCPU. */
int guest_main(const struct vigil_boot_info *bi);
void guest_secondary_main(const struct vigil_boot_info *bi, uint32_t index);

extern const struct vigil_boot_info *rt_boot;
extern uint64_t rt_features;

/* Console (hypercall path). */
void rt_write(const char *s, size_t n);
void rt_puts(const char *s);
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t rt_read(char *buf, size_t n);

/* Time and waiting. */
uint64_t rt_monotonic_ns(void);
uint64_t rt_wall_ns(void);
uint64_t rt_wait(uint64_t deadline_ns, uint64_t events);
void rt_sleep_ms(uint64_t ms);

/* Lifecycle. */
void rt_heartbeat(uint64_t counter);
__attribute__((noreturn)) void rt_halt(uint64_t status, const char *msg);
int64_t rt_switch(uint32_t target);

/* Exceptions: rt_start arms hv's IDT with the stubs in fault_entry.S, which report the
 * faulting state to hv (PANIC with a fault frame) instead of letting the fault escalate to
 * a triple fault.  rt_fault_handlers(0) removes them again (an exception is then a triple
 * fault); returns the hypercall's ret. */
int64_t rt_fault_handlers(int arm);
extern const uint64_t vigil_fault_entries[VIGIL_FAULT_VECTORS];

/* Reads a line of console input (blocking in WAIT); returns its length without the newline. */
size_t rt_readline(char *buf, size_t size);
/* Returns the value of `key=...` from the command line, or NULL; *len gets its length. */
const char *rt_cmdline_get(const char *key, size_t *len);
/* Decimal, or hexadecimal after "0x"; stops at the first character that is not a digit. */
uint64_t rt_parse_u64(const char *s, size_t n);

/* The compiler may emit calls to these. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

#endif
