/* main.c: the demo guest: a banner, a heartbeat with a counter, state in memory, a serial command
 * line. */
#include "rt.h"

#define PVPANIC_PORT 0x505

static uint64_t heartbeat_count;
static uint64_t work_total;
static uint64_t state_hash =
    0x9e3779b97f4a7c15ull; /* survives switches: proof of undisturbed state */
static uint64_t heartbeat_ms = 2000;
static uint64_t boot_ns;
static int silent; /* "crash silence": keep serving the console, stop heartbeating */
static uint8_t fill_area_marker;

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
    rt_puts(
        "commands:\n"
        "  help            this list\n"
        "  status          counters and state kept in guest memory\n"
        "  work N          run N million rounds of hashing and report the time\n"
        "  halt [N]        stop this guest with status N\n"
        "  fill N          write a pattern over N MiB of free RAM (dense memory for snapshots)\n"
        "  crash MODE      panic (pvpanic), panic-hc (panic hypercall), ud2 (an invalid\n"
        "                  opcode, which the exception handlers report), int3 (likewise,\n"
        "                  a breakpoint instruction), stack (a stack\n"
        "                  overflow into an unmapped page, reported from an IST stack),\n"
        "                  triple (handlers removed first: a genuine triple fault),\n"
        "                  write [ADDR] (wild write into this guest's own code, or to ADDR:\n"
        "                  a protected range),\n"
        "                  hang (spin, no heartbeat), silence (no heartbeat, console alive),\n"
        "                  hang-cli (CPL 0: cli; hlt), double (CPL 0: a double fault),\n"
        "                  port (read port 0x60), msr (CPL 0: rdmsr 0x1a0)\n"
        "                  (also at boot: crash=MODE on the command line)\n");
}

static void cmd_status(void)
{
    rt_printf("demo: heartbeats %lu, work rounds %lu, state 0x%lx, uptime %lu ms\n",
              heartbeat_count, work_total, state_hash, (rt_monotonic_ns() - boot_ns) / 1000000);
}

static void cmd_work(const char *arg)
{
    uint64_t n = rt_parse_u64(arg, strlen(arg)) * 1000000ull;
    uint64_t t0 = rt_monotonic_ns();
    for (uint64_t i = 0; i < n; i++)
        state_hash = mix(state_hash + i);
    work_total += n;
    rt_printf("work: %lu rounds in %lu ms, state 0x%lx\n", n, (rt_monotonic_ns() - t0) / 1000000,
              state_hash);
}

struct idt_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static void cmd_crash(const char *mode)
{
    int cpl0 = rt_boot->flags & VIGIL_BOOT_F_CPL0;
    if (!strncmp(mode, "panic-hc", 9)) {
        static const char msg[] = "demo guest panic (crash panic-hc)";
        struct vigil_hc_panic p = {
            .code = 42, .msg_gpa = (uintptr_t)msg, .msg_len = sizeof msg - 1};
        rt_puts("crash: panic hypercall\n");
        hc_call(VIGIL_HC_PANIC, &p);
        rt_puts("crash: the panic hypercall returned (policy let the guest go on)\n");
    } else if (!strncmp(mode, "panic", 6)) {
        rt_puts("crash: pvpanic\n");
        outb(PVPANIC_PORT, 1);
        rt_puts("crash: pvpanic returned (policy let the guest go on)\n");
    } else if (!strncmp(mode, "ud2", 4)) {
        rt_puts("crash: invalid opcode (ud2)\n");
        __asm__ volatile("ud2");
    } else if (!strncmp(mode, "int3", 5)) {
        /* The guest's own breakpoint: its #BP handler reports it, even while a debugger has
         * software breakpoints armed (hv's GDB stub hands such an int3 back). */
        rt_puts("crash: breakpoint (int3)\n");
        __asm__ volatile("int3");
    } else if (!strncmp(mode, "stack", 6)) {
        /* What a runaway recursion does when it reaches its guard page: the stack pointer
         * sits on top of an unmapped page (page 0) and the next push faults.  The CPU cannot
         * push the #PF frame there either; only the IST stack of hv's gate lets the handler
         * run instead of a double and then a triple fault. */
        rt_puts("crash: stack overflow (recursion into an unmapped page)\n");
        __asm__ volatile("mov $0x1000, %%rsp\n\t"
                         "1: call 1b"
                         :
                         :
                         : "memory");
    } else if (!strncmp(mode, "triple", 7)) {
        /* Without gates the #UD cannot be delivered (#NP), nor can that (#DF), nor the
         * double fault: a genuine triple fault, the case where AMD loses the registers. */
        rt_puts("crash: triple fault (exception handlers removed)\n");
        rt_fault_handlers(0);
        __asm__ volatile("ud2");
    } else if (!strncmp(mode, "write", 5) && (!mode[5] || mode[5] == ' ')) {
        uint64_t image = 0x100000;
        for (uint32_t i = 0; i < rt_boot->mmap_count; i++)
            if (rt_boot->mmap[i].type == VIGIL_MEM_IMAGE)
                image = rt_boot->mmap[i].base;
        if (mode[5]) /* "write ADDR": any range a test declared protected */
            image = rt_parse_u64(mode + 6, strlen(mode + 6));
        volatile uint8_t *code = (volatile uint8_t *)(uintptr_t)image;
        rt_printf("crash: wild write to 0x%lx\n", (uint64_t)(uintptr_t)code);
        *code = 0xcc;
        rt_printf("crash: the write returned; byte now 0x%x\n", *code);
    } else if (!strncmp(mode, "port", 5)) {
        uint8_t v = inb(0x60);
        rt_printf("crash: read port 0x60: 0x%x\n", v);
    } else if (!strncmp(mode, "msr", 4)) {
        if (!cpl0)
            return rt_puts("crash: msr needs CPL 0 (start the guest with --cpl0)\n");
        uint32_t lo, hi;
        __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1a0u));
        rt_printf("crash: rdmsr 0x1a0 = 0x%x%08x\n", hi, lo);
    } else if (!strncmp(mode, "hang", 5)) {
        rt_puts("crash: hanging (spinning, no heartbeat)\n");
        for (;;)
            __asm__ volatile("pause");
    } else if (!strncmp(mode, "silence", 8)) {
        rt_puts("crash: no more heartbeats\n");
        silent = 1;
    } else if (!strncmp(mode, "hang-cli", 9)) {
        if (!cpl0)
            return rt_puts("crash: hang-cli needs CPL 0 (start the guest with --cpl0)\n");
        rt_puts("crash: cli; hlt\n");
        __asm__ volatile("cli; hlt");
    } else if (!strncmp(mode, "double", 7)) {
        if (!cpl0)
            return rt_puts("crash: double needs CPL 0 (start the guest with --cpl0)\n");
        /* An IDT whose gates are absent: #UD finds no gate (#NP), that fault finds
         * none either, which is a double fault, whose gate is absent too. */
        static uint64_t idt[2 * 32];
        struct idt_ptr p = {.limit = sizeof idt - 1, .base = (uintptr_t)idt};
        rt_puts("crash: double fault\n");
        __asm__ volatile("lidt %0; ud2" : : "m"(p));
    } else {
        rt_printf("crash: unknown mode '%s' (see help)\n", mode);
    }
}

static void cmd_fill(const char *arg)
{
    uint64_t mib = rt_parse_u64(arg, strlen(arg));
    uint64_t base = ((uintptr_t)&fill_area_marker + 0xfffff) & ~0xfffffull;
    uint64_t limit =
        rt_boot->mem_size - (uint64_t)rt_boot->vcpu_count * rt_boot->stack_size - (1ull << 20);
    uint64_t *p = (uint64_t *)(uintptr_t)base;
    uint64_t n = 0;
    for (; n < mib && base + (n + 1) * (1ull << 20) <= limit; n++)
        for (uint64_t i = 0; i < (1ull << 20) / 8; i++)
            p[n * (1ull << 17) + i] = 0x5a5a000000000000ull | (n << 20) | i;
    rt_printf("fill: %lu MiB from 0x%lx\n", n, base);
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
    else if (!strncmp(line, "fill", 5))
        cmd_fill(arg);
    else
        rt_printf("unknown command '%s'; try help\n", line);
}

int guest_main(const struct vigil_boot_info *bi)
{
    boot_ns = rt_monotonic_ns();
    size_t len;
    const char *v = rt_cmdline_get("heartbeat_ms", &len);
    if (v)
        heartbeat_ms = rt_parse_u64(v, len);
    rt_printf("\nVigil demo guest: %u vCPU(s), %lu MiB RAM, CPL %u. Type 'help'.\n", bi->vcpu_count,
              bi->mem_size >> 20, (bi->flags & VIGIL_BOOT_F_CPL0) ? 0 : 3);
    char line[128];
    size_t n = 0;
    uint64_t next_beat = rt_monotonic_ns();
    const char *mode = rt_cmdline_get("crash", &len);
    if (mode) {
        char m[16] = {0};
        memcpy(m, mode, len < sizeof m - 1 ? len : sizeof m - 1);
        cmd_crash(m);
    }
    rt_puts("demo> ");
    for (;;) {
        uint64_t now = rt_monotonic_ns();
        if (heartbeat_ms && !silent && now >= next_beat) {
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
        rt_wait(heartbeat_ms && !silent ? next_beat : UINT64_MAX, VIGIL_EV_CONSOLE_IN);
    }
}
