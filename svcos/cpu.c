/* cpu.c: CPUID feature probing (RDRAND, RDSEED, FSGSBASE, invariant TSC) and the FS base for TLS.
 */
#include "svcos.h"

struct cpu_features cpu;

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

void cpu_init(void)
{
    uint32_t r[4];
    cpuid(0, 0, r);
    uint32_t max = r[0];
    cpuid(1, 0, r);
    cpu.leaf1_ecx = r[2];
    cpu.leaf1_edx = r[3];
    cpu.rdrand = (r[2] >> 30) & 1;
    if (max >= 7) {
        cpuid(7, 0, r);
        cpu.fsgsbase = r[1] & 1;
        cpu.rdseed = (r[1] >> 18) & 1;
    }
    cpuid(0x80000000u, 0, r);
    if (r[0] >= 0x80000007u) {
        cpuid(0x80000007u, 0, r);
        cpu.invariant_tsc = (r[3] >> 8) & 1;
    }
}
