/* chatter.c: test guest for console viewers: numbered 64-byte lines at a set pace, input echoed.
 *
 * Every 10 ms it prints `burst=N` lines (default 0: quiet), "chatter <seq> ....\n", 64 bytes
 * each, in one console write, so a viewer can check by the numbers that it missed nothing. A
 * typed line comes back as "echo: <line>\n"; "flood N" prints N KiB of numbered lines as fast as
 * it can (bench/console.py), "pace N" sets the burst.
 */
#include "rt.h"

#define LINE 64

static uint64_t seq;
static char buf[64 * LINE];

/* Prints n numbered lines in chunks of at most 64 lines (one console write each). */
static void lines(uint64_t n)
{
    while (n) {
        uint64_t k = n < 64 ? n : 64;
        for (uint64_t i = 0; i < k; i++) {
            char *l = buf + i * LINE;
            int m = rt_snprintf(l, LINE, "chatter %lu ", seq++);
            memset(l + m, '.', (size_t)(LINE - 1 - m));
            l[LINE - 1] = '\n';
        }
        rt_write(buf, (size_t)k * LINE);
        n -= k;
    }
}

static void execute(char *line, size_t n, uint64_t *burst)
{
    line[n] = 0;
    if (!strncmp(line, "flood ", 6))
        lines(rt_parse_u64(line + 6, n - 6) * 1024 / LINE);
    else if (!strncmp(line, "pace ", 5))
        *burst = rt_parse_u64(line + 5, n - 5);
    else
        rt_printf("echo: %s\n", line);
}

int guest_main(const struct vigil_boot_info *bi)
{
    (void)bi;
    size_t len;
    const char *v = rt_cmdline_get("burst", &len);
    uint64_t burst = v ? rt_parse_u64(v, len) : 0;
    rt_puts("chatter: ready\n");
    char line[128];
    size_t n = 0;
    uint64_t next = rt_monotonic_ns();
    for (;;) {
        char c;
        while (rt_read(&c, 1) == 1) {
            if (c == '\r' || c == '\n') {
                if (n)
                    execute(line, n, &burst);
                n = 0;
            } else if (n + 1 < sizeof line) {
                line[n++] = c;
            }
        }
        uint64_t now = rt_monotonic_ns();
        if (burst && now >= next) {
            lines(burst);
            next = now + 10000000ull;
        }
        rt_wait(burst ? next : UINT64_MAX, VIGIL_EV_CONSOLE_IN);
    }
}
