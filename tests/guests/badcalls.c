/* badcalls.c: test guest: malformed hypercalls must get precise errors, and hv must keep serving.
 */
#include "rt.h"

static int failures;

static void expect(const char *what, int64_t got, int64_t want)
{
    if (got != want) {
        failures++;
        rt_printf("badcalls: FAIL %s: got %ld, want %ld\n", what, got, want);
    } else {
        rt_printf("badcalls: ok %s (%ld)\n", what, got);
    }
}

static void raw_out32(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

int guest_main(const struct vigil_boot_info *bi)
{
    uint64_t ram = bi->mem_size;
    static char buf[64];
    struct vigil_hc_buf b;

    b = (struct vigil_hc_buf){.gpa = ram, .len = 16, .ret = 1};
    hc_call(VIGIL_HC_CONSOLE_WRITE, &b);
    expect("console write beyond RAM", b.ret, VIGIL_EFAULT);

    b = (struct vigil_hc_buf){.gpa = ram - 8, .len = 16, .ret = 1};
    hc_call(VIGIL_HC_CONSOLE_WRITE, &b);
    expect("console write straddling the end of RAM", b.ret, VIGIL_EFAULT);

    b = (struct vigil_hc_buf){.gpa = UINT64_MAX - 4, .len = 64, .ret = 1};
    hc_call(VIGIL_HC_CONSOLE_WRITE, &b);
    expect("console write with gpa+len overflowing", b.ret, VIGIL_EFAULT);

    b = (struct vigil_hc_buf){.gpa = (uintptr_t)buf, .len = VIGIL_HC_CONSOLE_MAX + 1, .ret = 1};
    hc_call(VIGIL_HC_CONSOLE_WRITE, &b);
    expect("console write longer than the limit", b.ret, VIGIL_E2BIG);

    b = (struct vigil_hc_buf){.gpa = ram + 4096, .len = 8, .ret = 1};
    hc_call(VIGIL_HC_CONSOLE_READ, &b);
    expect("console read into memory beyond RAM", b.ret, VIGIL_EFAULT);

    struct vigil_hc_wait w = {.deadline_ns = 0, .events = 1ull << 40, .ret = 1};
    hc_call(VIGIL_HC_WAIT, &w);
    expect("wait for an unknown event", w.ret, VIGIL_EINVAL);

    struct vigil_hc_switch s = {.target = VIGIL_ROLE_SERVICE, .ret = 1};
    hc_call(VIGIL_HC_SWITCH, &s);
    expect("switch requested by a guest", s.ret,
           bi->flags & VIGIL_BOOT_F_SERVICE ? 0 : VIGIL_EPERM);

    struct vigil_hc_version v = {.guest_abi = 0, .ret = 1};
    hc_call(VIGIL_HC_VERSION, &v);
    expect("version 0", v.ret, VIGIL_ENOTSUP);

    struct vigil_hc_heartbeat h = {.ret = 77};
    hc_call(20, &h);
    expect("unknown hypercall leaves the argument alone", h.ret, 77);

    h.ret = 77;
    raw_out32(VIGIL_HC_PORT_BASE + VIGIL_HC_HEARTBEAT, (uint32_t)(uintptr_t)&h + 1);
    expect("misaligned argument is refused untouched", h.ret, 77);

    raw_out32(VIGIL_HC_PORT_BASE + VIGIL_HC_TIME, 0xfffffff0u);
    expect("argument outside RAM: the guest goes on", 0, 0);

    uint8_t in = inb(VIGIL_HC_PORT_BASE);
    expect("IN from a hypercall port reads all ones", in, 0xff);
    outb(VIGIL_HC_PORT_BASE + VIGIL_HC_TIME, 1);
    expect("8-bit OUT to a hypercall port is ignored", 0, 0);

    b = (struct vigil_hc_buf){.gpa = (uintptr_t) "fine\n", .len = 5};
    hc_call(VIGIL_HC_CONSOLE_WRITE, &b);
    expect("a good call still works afterwards", b.ret, 5);

    rt_printf("badcalls: %d failure(s)\n", failures);
    struct vigil_hc_halt halt = {
        .status = (uint64_t)failures, .msg_gpa = ram * 4, .msg_len = 1ull << 40};
    for (;;)
        hc_call(VIGIL_HC_HALT, &halt); /* a bad message must not stop the halt */
}
