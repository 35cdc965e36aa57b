/* main.c: the demo guest: a banner, a heartbeat with a counter, state in memory, a serial command line. */
#include "rt.h"

#define PVPANIC_PORT 0x505

static uint64_t heartbeat_count;
static uint64_t work_total;
static uint64_t state_hash = 0x9e3779b97f4a7c15ull; /* survives switches: proof of undisturbed state */
static uint64_t heartbeat_ms = 2000;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static void cmd_help(void)
{
    rt_puts("commands:\n"
            "  help            this list\n"
            "  status          counters and state kept in guest memory\n"
            "  work N          run N million rounds of hashing and report the time\n"
            "  halt [N]        stop this guest with status N\n"
            "  crash panic     report a panic through pvpanic (port 0x505)\n"
            "  crash triple    fault with no IDT: a triple fault\n"
            "  crash hang      spin forever without heartbeats\n");
}

static void cmd_status(void)
{
    rt_printf("demo: heartbeats %lu, work rounds %lu, state 0x%lx, uptime %lu ms\n", heartbeat_count,
              work_total, state_hash, (rt_monotonic_ns() - 0) / 1000000 % 1000000000);
}

static void cmd_work(const char *arg)
{
    uint64_t n = rt_parse_u64(arg, strlen(arg)) * 1000000ull;
    uint64_t t0 = rt_monotonic_ns();
    for (uint64_t i = 0; i < n; i++)
        state_hash = mix(state_hash + i);
    work_total += n;
    rt_printf("work: %lu rounds in %lu ms, state 0x%lx\n", n, (rt_monotonic_ns() - t0) / 1000000, state_hash);
}

static void cmd_crash(const char *mode)
{
    if (!strncmp(mode, "panic", 6)) {
        rt_puts("crash: pvpanic\n");
        outb(PVPANIC_PORT, 1);
    } else if (!strncmp(mode, "triple", 7)) {
        rt_puts("crash: triple fault\n");
        __asm__ volatile("ud2");
    } else if (!strncmp(mode, "hang", 5)) {
        rt_puts("crash: hanging (spinning, no heartbeat)\n");
        for (;;)
            __asm__ volatile("pause");
    } else {
        rt_printf("crash: unknown mode '%s' (panic, triple, hang)\n", mode);
    }
}

static void execute(char *line)
{
    char *arg = line;
    while (*arg && *arg != ' ')
        arg++;
    if (*arg)
        *arg++ = 0;
    if (!line[0])
        return;
    if (!strncmp(line, "help", 5))
        cmd_help();
    else if (!strncmp(line, "status", 7))
        cmd_status();
    else if (!strncmp(line, "work", 5))
        cmd_work(arg);
    else if (!strncmp(line, "halt", 5))
        rt_halt(rt_parse_u64(arg, strlen(arg)), "halt command");
    else if (!strncmp(line, "crash", 6))
        cmd_crash(arg);
    else
        rt_printf("unknown command '%s'; try help\n", line);
}

int guest_main(const struct vigil_boot_info *bi)
{
    size_t len;
    const char *v = rt_cmdline_get("heartbeat_ms", &len);
    if (v)
        heartbeat_ms = rt_parse_u64(v, len);
    rt_printf("\nVigil demo guest: %u vCPU(s), %lu MiB RAM, CPL %u. Type 'help'.\n", bi->vcpu_count,
              bi->mem_size >> 20, (bi->flags & VIGIL_BOOT_F_CPL0) ? 0 : 3);
    char line[128];
    size_t n = 0;
    uint64_t next_beat = rt_monotonic_ns();
    rt_puts("demo> ");
    for (;;) {
        uint64_t now = rt_monotonic_ns();
        if (heartbeat_ms && now >= next_beat) {
            rt_heartbeat(++heartbeat_count);
            next_beat = now + heartbeat_ms * 1000000ull;
            if (heartbeat_count % 15 == 0)
                rt_printf("\n[demo] heartbeat %lu\ndemo> %s", heartbeat_count, (line[n] = 0, line));
        }
        char c;
        while (rt_read(&c, 1) == 1) {
            if (c == '\r' || c == '\n') {
                rt_puts("\n");
                line[n] = 0;
                execute(line);
                n = 0;
                rt_puts("demo> ");
            } else if ((c == 0x7f || c == '\b') && n) {
                n--;
                rt_puts("\b \b");
            } else if (c >= 0x20 && c < 0x7f && n + 1 < sizeof line) {
                line[n++] = c;
                rt_write(&c, 1);
            }
        }
        rt_wait(heartbeat_ms ? next_beat : UINT64_MAX, VIGIL_EV_CONSOLE_IN);
    }
}
