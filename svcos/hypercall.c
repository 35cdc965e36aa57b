/* hypercall.c: the client side of hv's hypercall ABI (port I/O with the argument's guest-physical
 * address). */
#include "svcos.h"

/* Guest RAM is identity mapped, so an object's address is its guest-physical
 * address.  Argument structures live on the stack, which is below 4 GiB only if
 * RAM is; hv's ABI wants 32-bit port values, so they are copied into a static
 * slot in the image (loaded at a few MiB) when they would not fit. */
static void hc(unsigned nr, void *arg, size_t size)
{
    static uint64_t slot[8] __attribute__((aligned(16)));
    void *p = arg;
    if ((uintptr_t)arg + size > 0xffffffffu) {
        __builtin_memcpy(slot, arg, size);
        p = slot;
    }
    __asm__ volatile("outl %0, %1"
                     :
                     : "a"((uint32_t)(uintptr_t)p), "Nd"((uint16_t)(VIGIL_HC_PORT_BASE + nr))
                     : "memory");
    if (p != arg)
        __builtin_memcpy(arg, slot, size);
}

long hv_version(uint64_t *features)
{
    struct vigil_hc_version v = {.guest_abi = VIGIL_ABI_VERSION};
    hc(VIGIL_HC_VERSION, &v, sizeof v);
    if (features)
        *features = v.features;
    return v.ret;
}

void hv_console_write(const void *buf, size_t len)
{
    const char *s = buf;
    while (len) {
        size_t chunk = len < VIGIL_HC_CONSOLE_MAX ? len : VIGIL_HC_CONSOLE_MAX;
        struct vigil_hc_buf b = {.gpa = (uintptr_t)s, .len = chunk};
        hc(VIGIL_HC_CONSOLE_WRITE, &b, sizeof b);
        if (b.ret <= 0)
            return;
        s += b.ret;
        len -= (size_t)b.ret;
    }
}

long hv_console_read(void *buf, size_t len)
{
    if (len > VIGIL_HC_CONSOLE_MAX)
        len = VIGIL_HC_CONSOLE_MAX;
    struct vigil_hc_buf b = {.gpa = (uintptr_t)buf, .len = len};
    hc(VIGIL_HC_CONSOLE_READ, &b, sizeof b);
    return b.ret;
}

void hv_time(uint64_t *wall_ns, uint64_t *mono_ns)
{
    struct vigil_hc_time t = {0};
    hc(VIGIL_HC_TIME, &t, sizeof t);
    if (wall_ns)
        *wall_ns = t.wall_ns;
    if (mono_ns)
        *mono_ns = t.monotonic_ns;
}

uint64_t hv_wait(uint64_t deadline_ns, uint64_t events)
{
    struct vigil_hc_wait w = {.deadline_ns = deadline_ns, .events = events};
    hc(VIGIL_HC_WAIT, &w, sizeof w);
    return w.ret < 0 ? 0 : w.ready;
}

void hv_halt(uint64_t status, const char *msg)
{
    size_t n = 0;
    while (msg && msg[n] && n < VIGIL_HC_HALT_MSG_MAX)
        n++;
    struct vigil_hc_halt h = {.status = status, .msg_gpa = (uintptr_t)msg, .msg_len = n};
    for (;;)
        hc(VIGIL_HC_HALT, &h, sizeof h);
}

void hv_heartbeat(uint64_t counter)
{
    struct vigil_hc_heartbeat h = {.counter = counter};
    hc(VIGIL_HC_HEARTBEAT, &h, sizeof h);
}

extern const uint64_t vigil_fault_entries[VIGIL_FAULT_VECTORS];

long hv_fault_handlers(int arm)
{
    struct vigil_hc_fault_handler h = {.entries_gpa = arm ? (uintptr_t)vigil_fault_entries : 0,
                                       .ret = VIGIL_ENOSYS};
    hc(VIGIL_HC_SET_FAULT_HANDLER, &h, sizeof h);
    return h.ret;
}

void hv_svc_call(struct vigil_hc_svc_call *a)
{
    a->ret = VIGIL_ENOSYS; /* what an hv without the call leaves */
    hc(VIGIL_HC_SVC_CALL, a, sizeof *a);
}
