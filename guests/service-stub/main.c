/* main.c: placeholder service image until svcos exists: boots first, starts the guest, stays
 * responsive. */
#include "rt.h"

static uint64_t beats, switches_seen;

static void execute(const char *line)
{
    if (!strncmp(line, "ping", 5)) {
        rt_printf("pong %lu\n", rt_monotonic_ns());
    } else if (!strncmp(line, "status", 7)) {
        rt_printf("service: heartbeats %lu, foreground changes seen %lu\n", beats, switches_seen);
    } else if (!strncmp(line, "switch guest", 13) || !strncmp(line, "guest", 6)) {
        int64_t r = rt_switch(VIGIL_ROLE_GUEST);
        if (r < 0)
            rt_printf("service: switch refused (%ld)\n", r);
    } else if (!strncmp(line, "crash", 6)) {
        rt_puts("service: crashing (ud2)\n");
        __asm__ volatile("ud2");
    } else if (!strncmp(line, "help", 5)) {
        rt_puts("service commands: ping, status, switch guest, crash, help\n");
    } else if (line[0]) {
        rt_printf("service: unknown command '%s'\n", line);
    }
}

int guest_main(const struct vigil_boot_info *bi)
{
    rt_printf("Vigil service VM (placeholder image): up at monotonic %lu ns, %lu MiB\n",
              rt_monotonic_ns(), bi->mem_size >> 20);
    if (bi->flags & VIGIL_BOOT_F_AUTOSTART) {
        rt_puts("service: booting the guest by a switch\n");
        int64_t r = rt_switch(VIGIL_ROLE_GUEST);
        if (r < 0)
            rt_printf("service: could not boot the guest (%ld)\n", r);
    }
    char line[128];
    size_t n = 0;
    uint64_t next_beat = rt_monotonic_ns();
    for (;;) {
        uint64_t now = rt_monotonic_ns();
        if (now >= next_beat) {
            rt_heartbeat(++beats);
            next_beat = now + 1000000000ull;
        }
        uint64_t ready =
            rt_wait(next_beat, VIGIL_EV_CONSOLE_IN | VIGIL_EV_FOREGROUND | VIGIL_EV_NOTIFY);
        if (ready & VIGIL_EV_FOREGROUND)
            switches_seen++;
        if (ready & VIGIL_EV_NOTIFY)
            rt_puts("service: notified of a guest event\n");
        /* Only when there is input: each hypercall is a VM exit, and a switch wakes this loop. */
        char c;
        while ((ready & VIGIL_EV_CONSOLE_IN) && rt_read(&c, 1) == 1) {
            if (c == '\r' || c == '\n') {
                line[n] = 0;
                rt_puts("\n");
                execute(line);
                n = 0;
            } else if (c >= 0x20 && c < 0x7f && n + 1 < sizeof line) {
                line[n++] = c;
                rt_write(&c, 1);
            }
        }
    }
}
