/* rt.c: guest start-up and the hypercall-backed console, clock, wait and lifecycle calls. */
#include "rt.h"

const struct vigil_boot_info *rt_boot;
uint64_t rt_features;

__attribute__((noreturn)) void rt_start(const struct vigil_boot_info *bi, uint64_t index);

__attribute__((weak)) void guest_secondary_main(const struct vigil_boot_info *bi, uint32_t index)
{
    (void)bi;
    (void)index;
    for (;;)
        rt_wait(UINT64_MAX, 0);
}

void rt_start(const struct vigil_boot_info *bi, uint64_t index)
{
    if (index != 0) {
        guest_secondary_main(bi, (uint32_t)index);
        for (;;)
            rt_wait(UINT64_MAX, 0);
    }
    rt_boot = bi;
    struct vigil_hc_version v = {.guest_abi = VIGIL_ABI_VERSION};
    hc_call(VIGIL_HC_VERSION, &v);
    if (v.ret < 0 || bi->magic != VIGIL_BOOT_MAGIC)
        rt_halt(2, "hypercall ABI version mismatch");
    rt_features = v.features;
    /* First thing after the ABI check: from here on a fault is reported with the registers
     * where it happened, whichever vCPU takes it (the IDT is the whole VM's). */
    if (rt_features & VIGIL_FEAT_FAULT)
        rt_fault_handlers(1);
    int status = guest_main(bi);
    rt_halt((uint64_t)status, "guest_main returned");
}

int64_t rt_fault_handlers(int arm)
{
    struct vigil_hc_fault_handler h = {.entries_gpa = arm ? (uintptr_t)vigil_fault_entries : 0,
                                       .ret = VIGIL_ENOSYS};
    hc_call(VIGIL_HC_SET_FAULT_HANDLER, &h);
    return h.ret;
}

void rt_write(const char *s, size_t n)
{
    while (n) {
        size_t chunk = n < VIGIL_HC_CONSOLE_MAX ? n : VIGIL_HC_CONSOLE_MAX;
        struct vigil_hc_buf b = {.gpa = (uintptr_t)s, .len = chunk};
        hc_call(VIGIL_HC_CONSOLE_WRITE, &b);
        if (b.ret <= 0)
            return;
        s += b.ret;
        n -= (size_t)b.ret;
    }
}

void rt_puts(const char *s)
{
    rt_write(s, strlen(s));
}

int rt_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = rt_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        rt_write(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    return n;
}

int64_t rt_read(char *buf, size_t n)
{
    struct vigil_hc_buf b = {.gpa = (uintptr_t)buf, .len = n};
    hc_call(VIGIL_HC_CONSOLE_READ, &b);
    return b.ret;
}

uint64_t rt_monotonic_ns(void)
{
    struct vigil_hc_time t = {0};
    hc_call(VIGIL_HC_TIME, &t);
    return t.monotonic_ns;
}

uint64_t rt_wall_ns(void)
{
    struct vigil_hc_time t = {0};
    hc_call(VIGIL_HC_TIME, &t);
    return t.wall_ns;
}

uint64_t rt_wait(uint64_t deadline_ns, uint64_t events)
{
    struct vigil_hc_wait w = {.deadline_ns = deadline_ns, .events = events};
    hc_call(VIGIL_HC_WAIT, &w);
    return w.ret < 0 ? 0 : w.ready;
}

void rt_sleep_ms(uint64_t ms)
{
    uint64_t deadline = rt_monotonic_ns() + ms * 1000000ull;
    while (rt_monotonic_ns() < deadline)
        rt_wait(deadline, 0);
}

void rt_heartbeat(uint64_t counter)
{
    struct vigil_hc_heartbeat h = {.counter = counter};
    hc_call(VIGIL_HC_HEARTBEAT, &h);
}

void rt_halt(uint64_t status, const char *msg)
{
    struct vigil_hc_halt h = {
        .status = status, .msg_gpa = (uintptr_t)msg, .msg_len = msg ? strlen(msg) : 0};
    for (;;)
        hc_call(VIGIL_HC_HALT, &h);
}

int64_t rt_switch(uint32_t target)
{
    struct vigil_hc_switch s = {.target = target};
    hc_call(VIGIL_HC_SWITCH, &s);
    return s.ret;
}

size_t rt_readline(char *buf, size_t size)
{
    size_t n = 0;
    for (;;) {
        char c;
        if (rt_read(&c, 1) != 1) {
            rt_wait(UINT64_MAX, VIGIL_EV_CONSOLE_IN);
            continue;
        }
        if (c == '\r' || c == '\n') {
            rt_write("\r\n", 2);
            buf[n] = 0;
            return n;
        }
        if ((c == 0x7f || c == '\b') && n) {
            n--;
            rt_write("\b \b", 3);
            continue;
        }
        if (n + 1 < size && c >= 0x20 && c < 0x7f) {
            buf[n++] = c;
            rt_write(&c, 1); /* echo, as a terminal line discipline would */
        }
    }
}

const char *rt_cmdline_get(const char *key, size_t *len)
{
    const char *s = (const char *)(uintptr_t)rt_boot->cmdline_gpa;
    size_t klen = strlen(key);
    while (*s) {
        while (*s == ' ')
            s++;
        const char *w = s;
        while (*s && *s != ' ')
            s++;
        if ((size_t)(s - w) > klen && !strncmp(w, key, klen) && w[klen] == '=') {
            *len = (size_t)(s - w) - klen - 1;
            return w + klen + 1;
        }
    }
    return NULL;
}

uint64_t rt_parse_u64(const char *s, size_t n)
{
    uint64_t v = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < n; i++) {
            char c = s[i] | 0x20; /* lower case */
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                break;
            v = v * 16 + (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        return v;
    }
    for (size_t i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}
