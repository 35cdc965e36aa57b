/* checksum.c: test guest: a long computation held in GPRs, XMM registers and memory, on every vCPU.
 */
#include "rt.h"

#define RING              1024
#define HV_MAX_RING_VCPUS 4

static uint64_t ring[HV_MAX_RING_VCPUS][RING];
static volatile uint64_t result[HV_MAX_RING_VCPUS][3];
static volatile uint32_t done[HV_MAX_RING_VCPUS];
static uint64_t rounds = 100000000;
static volatile uint32_t go; /* secondaries wait until vCPU 0 has read the command line */

/* All live state stays in registers for the whole loop, so a switch that
 * lost or altered any of them (including XMM) changes the answer. */
static void compute(uint32_t cpu)
{
    uint64_t seed = 0x243f6a8885a308d3ull * (cpu + 1), n = rounds, r8, x0, x1;
    uint64_t *buf = ring[cpu];
    __asm__ volatile("movq %[seed], %%xmm0\n\t"
                     "pxor %%xmm1, %%xmm1\n\t"
                     "mov %[seed], %%r8\n\t"
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
                     "mov %%r8, %[r8]\n\t"
                     "movq %%xmm0, %[x0]\n\t"
                     "movq %%xmm1, %[x1]\n\t"
                     : [r8] "=&r"(r8), [x0] "=&r"(x0), [x1] "=&r"(x1)
                     : [seed] "r"(seed), [n] "r"(n), [buf] "r"(buf)
                     : "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "memory", "cc");
    uint64_t mem = 0;
    for (int i = 0; i < RING; i++)
        mem = (mem ^ buf[i]) * 0x100000001b3ull;
    result[cpu][0] = r8 ^ x0;
    result[cpu][1] = x1;
    result[cpu][2] = mem;
    __atomic_store_n(&done[cpu], 1, __ATOMIC_RELEASE);
}

void guest_secondary_main(const struct vigil_boot_info *bi, uint32_t index)
{
    (void)bi;
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
        __asm__ volatile("pause");
    if (index < HV_MAX_RING_VCPUS)
        compute(index);
}

int guest_main(const struct vigil_boot_info *bi)
{
    size_t len;
    const char *v = rt_cmdline_get("rounds", &len);
    if (v)
        rounds = rt_parse_u64(v, len);
    uint32_t cpus = bi->vcpu_count < HV_MAX_RING_VCPUS ? bi->vcpu_count : HV_MAX_RING_VCPUS;
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    rt_printf("checksum: start, %lu rounds on %u vCPU(s)\n", rounds, cpus);
    compute(0);
    uint64_t sum = 0xcbf29ce484222325ull;
    for (uint32_t c = 0; c < cpus; c++) {
        while (!__atomic_load_n(&done[c], __ATOMIC_ACQUIRE))
            __asm__ volatile("pause");
        for (int k = 0; k < 3; k++)
            sum = (sum ^ result[c][k]) * 0x100000001b3ull;
    }
    rt_printf("checksum: done %016lx\n", sum);
    return 0;
}
