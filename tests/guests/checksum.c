/* checksum.c: test guest: a computation held in GPRs, XMM registers and memory on every vCPU, run
 * in chained epochs of `rounds` each: `epochs=E` of them, or with `epochs=0` until a `stop` line.
 */
#include "rt.h"

#include <stddef.h>

#define RING              1024
#define HV_MAX_RING_VCPUS 4

/* What one vCPU's loop carries from one epoch into the next, so the final checksum depends on
 * every epoch.  All of xmm1 is carried: pshufd moves each of its halves into the other. */
struct carry {
    uint64_t r8, x0, x1[2];
};
_Static_assert(offsetof(struct carry, x0) == 8 && offsetof(struct carry, x1) == 16,
               "the epoch loop addresses struct carry by fixed offsets");

static uint64_t ring[HV_MAX_RING_VCPUS][RING];
static struct carry carry[HV_MAX_RING_VCPUS];
static volatile uint64_t result[HV_MAX_RING_VCPUS][3];
static volatile uint32_t done[HV_MAX_RING_VCPUS];
static uint64_t rounds = 100000000, epochs = 1;

/* vCPU 0 publishes how many epochs every vCPU may start, shifted left by one, with bit 0 set
 * once that count is final; one word, so a secondary never sees a count and a stale flag.
 * Each vCPU counts the epochs it has finished, so vCPU 0 can keep them in step. */
static uint64_t allowed;
static uint64_t finished[HV_MAX_RING_VCPUS];

/* All live state stays in registers for the whole loop, so a switch that
 * lost or altered any of them (including XMM) changes the answer. */
static void run_epoch(uint32_t cpu)
{
    uint64_t n = rounds;
    uint64_t *buf = ring[cpu];
    struct carry *c = &carry[cpu];
    __asm__ volatile("mov (%[c]), %%r8\n\t"
                     "movq 8(%[c]), %%xmm0\n\t"
                     "movdqu 16(%[c]), %%xmm1\n\t"
                     "mov $0x9e3779b97f4a7c15, %%r9\n\t"
                     "xor %%r10, %%r10\n\t"
                     "1:\n\t"
                     "imul %%r9, %%r8\n\t"
                     "add %%r10, %%r8\n\t"
                     "rol $13, %%r8\n\t"
                     "movq %%r8, %%xmm2\n\t"
                     "paddq %%xmm2, %%xmm0\n\t"
                     "pxor %%xmm0, %%xmm1\n\t"
                     "pshufd $0x4e, %%xmm1, %%xmm1\n\t"
                     "mov %%r10, %%r11\n\t"
                     "and $1023, %%r11\n\t"
                     "xor %%r8, (%[buf], %%r11, 8)\n\t"
                     "inc %%r10\n\t"
                     "cmp %[n], %%r10\n\t"
                     "jb 1b\n\t"
                     "mov %%r8, (%[c])\n\t"
                     "movq %%xmm0, 8(%[c])\n\t"
                     "movdqu %%xmm1, 16(%[c])\n\t"
                     :
                     : [c] "r"(c), [n] "r"(n), [buf] "r"(buf)
                     : "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "memory", "cc");
}

static void start(uint32_t cpu)
{
    uint64_t seed = 0x243f6a8885a308d3ull * (cpu + 1);
    carry[cpu] = (struct carry){.r8 = seed, .x0 = seed};
}

/* Folds this vCPU's final state; with one epoch it gives what the single-run guest gave. */
static void finish(uint32_t cpu)
{
    uint64_t mem = 0;
    for (int i = 0; i < RING; i++)
        mem = (mem ^ ring[cpu][i]) * 0x100000001b3ull;
    result[cpu][0] = carry[cpu].r8 ^ carry[cpu].x0;
    result[cpu][1] = carry[cpu].x1[0];
    result[cpu][2] = mem;
    __atomic_store_n(&done[cpu], 1, __ATOMIC_RELEASE);
}

void guest_secondary_main(const struct vigil_boot_info *bi, uint32_t index)
{
    (void)bi;
    if (index >= HV_MAX_RING_VCPUS)
        return;
    start(index);
    for (uint64_t e = 0;;) {
        uint64_t a;
        while ((a = __atomic_load_n(&allowed, __ATOMIC_ACQUIRE)) >> 1 <= e && !(a & 1))
            __asm__ volatile("pause");
        if (a >> 1 <= e)
            break; /* final, and this vCPU has run them all */
        run_epoch(index);
        __atomic_store_n(&finished[index], ++e, __ATOMIC_RELEASE);
    }
    finish(index);
}

/* Polls console input without blocking: true once a whole line reads "stop". */
static int stop_requested(void)
{
    static char line[8];
    static size_t len;
    char buf[32];
    int64_t n;
    while ((n = rt_read(buf, sizeof buf)) > 0) {
        for (int64_t i = 0; i < n; i++) {
            if (buf[i] == '\r' || buf[i] == '\n') {
                if (len == 4 && !memcmp(line, "stop", 4))
                    return 1;
                len = 0;
            } else if (len < sizeof line) {
                line[len++] = buf[i]; /* a longer line stays at sizeof line: never "stop" */
            }
        }
    }
    return 0;
}

int guest_main(const struct vigil_boot_info *bi)
{
    size_t len;
    const char *v = rt_cmdline_get("rounds", &len);
    if (v)
        rounds = rt_parse_u64(v, len);
    if ((v = rt_cmdline_get("epochs", &len)))
        epochs = rt_parse_u64(v, len);
    uint32_t cpus = bi->vcpu_count < HV_MAX_RING_VCPUS ? bi->vcpu_count : HV_MAX_RING_VCPUS;
    if (epochs)
        rt_printf("checksum: start, %lu epochs of %lu rounds on %u vCPU(s)\n", epochs, rounds,
                  cpus);
    else
        rt_printf("checksum: start, epochs of %lu rounds until 'stop', on %u vCPU(s)\n", rounds,
                  cpus);
    start(0);
    uint64_t e = 0, t0 = rt_monotonic_ns();
    for (;;) {
        __atomic_store_n(&allowed, (e + 1) << 1, __ATOMIC_RELEASE);
        run_epoch(0);
        e++;
        /* In step: a stop then waits for at most one epoch, however the host schedules us. */
        for (uint32_t c = 1; c < cpus; c++)
            while (__atomic_load_n(&finished[c], __ATOMIC_ACQUIRE) < e)
                __asm__ volatile("pause");
        if (e == 1)
            rt_printf("checksum: epoch 1 took %lu ms\n", (rt_monotonic_ns() - t0) / 1000000);
        /* At least one epoch always runs, so E is never 0, which would mean "until stop". */
        if (epochs ? e == epochs : stop_requested())
            break;
    }
    __atomic_store_n(&allowed, e << 1 | 1, __ATOMIC_RELEASE);
    finish(0);
    uint64_t sum = 0xcbf29ce484222325ull;
    for (uint32_t c = 0; c < cpus; c++) {
        while (!__atomic_load_n(&done[c], __ATOMIC_ACQUIRE))
            __asm__ volatile("pause");
        for (int k = 0; k < 3; k++)
            sum = (sum ^ result[c][k]) * 0x100000001b3ull;
    }
    rt_printf("checksum: done %016lx after %lu epochs\n", sum, e);
    return 0;
}
