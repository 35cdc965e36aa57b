/* sys.c: what lwIP asks of its platform under NO_SYS: the millisecond clock, randomness,
 * diagnostics and assertions. */
#include "ns.h"

#include "lwip/sys.h"
#include <stdarg.h>
#include <stdio.h>

u32_t sys_now(void)
{
    /* lwIP compares these with wrap-around arithmetic: the truncation is fine. */
    return (u32_t)(time_mono_ns() / 1000000ull);
}

uint32_t netstack_rand(void)
{
    uint32_t r;
    random_bytes(&r, sizeof r);
    return r;
}

void netstack_diag(const char *fmt, ...)
{
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* lwIP's messages end with their own newline; klog adds one. */
    if (n > 0 && (size_t)n < sizeof line && line[n - 1] == '\n')
        line[n - 1] = 0;
    klog("lwip: %s", line);
}

void netstack_assert_fail(const char *msg, const char *file, int line)
{
    kpanic("lwip: assertion \"%s\" failed at %s:%d", msg, file, line);
}
