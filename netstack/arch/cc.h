/* arch/cc.h: lwIP's platform glue for svcos (types, byte order, diagnostics, randomness). */
#ifndef NETSTACK_ARCH_CC_H
#define NETSTACK_ARCH_CC_H

/* limits.h first: lwIP defines its own ssize_t unless SSIZE_MAX says the C library has one. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* x86-64: the compiler's byte swaps instead of lwIP's portable shifts. */
#define LWIP_PLATFORM_BYTESWAP 1
#define LWIP_PLATFORM_HTONS(x) __builtin_bswap16(x)
#define LWIP_PLATFORM_HTONL(x) __builtin_bswap32(x)

/* lwIP runs inside svcos's system calls: diagnostics go to svcos's log, a failed assertion
 * stops the VM with a panic (a corrupted stack state must not carry on). */
void netstack_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void netstack_assert_fail(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_DIAG(x)   netstack_diag x
#define LWIP_PLATFORM_ASSERT(x) netstack_assert_fail((x), __FILE__, __LINE__)

/* Port randomisation and DHCP transaction ids come from svcos's ChaCha20 generator. */
uint32_t netstack_rand(void);
#define LWIP_RAND() netstack_rand()

#endif
