/* x86_boot_fixture.h: guest RAM, boot parameters and a page-table walker for the x86_boot tests. */
#ifndef VIGIL_TEST_X86_BOOT_FIXTURE_H
#define VIGIL_TEST_X86_BOOT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86/elf_loader.h"
#include "x86/x86_boot.h"

#define MIB      (1024ull * 1024ull)
#define GIB      (1024ull * MIB)
#define MEM_SIZE (8 * MIB)

#define PTE_P    0x1ull
#define PTE_RW   0x2ull
#define PTE_US   0x4ull
#define PTE_PS   0x80ull
#define PTE_ADDR 0x000ffffffffff000ull

static inline uint64_t get64(const uint8_t *mem, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, mem + gpa, sizeof v);
    return v;
}

static inline struct boot_params params(void)
{
    return (struct boot_params){.mem_size = MEM_SIZE,
                                .vcpus = 2,
                                .flags = VIGIL_BOOT_F_SERVICE,
                                .image_start = ELF_LOAD_MIN_ADDR,
                                .image_end = ELF_LOAD_MIN_ADDR + 0x3000,
                                .entry = ELF_LOAD_MIN_ADDR + 0x10,
                                .tsc_hz = 2100000000ull,
                                .cmdline = "console=ttyS0 quiet",
                                .name = "service"};
}

static inline int setup(void **state)
{
    uint8_t *mem = calloc(1, MEM_SIZE);
    if (!mem)
        return -1;
    *state = mem;
    return 0;
}

static inline int teardown(void **state)
{
    free(*state);
    return 0;
}

static inline struct vigil_boot_info boot_info(const uint8_t *mem)
{
    struct vigil_boot_info bi;
    memcpy(&bi, mem + BOOT_INFO_GPA, sizeof bi);
    return bi;
}

/* Walks the guest page tables for va; returns the physical address or UINT64_MAX when not
 * present.  Every present level must grant user and write access. */
static inline uint64_t walk(const uint8_t *mem, uint64_t mem_size, uint64_t va)
{
    static const unsigned shifts[] = {39, 30, 21, 12};
    uint64_t table = BOOT_PML4_GPA;
    for (int level = 0; level < 4; level++) {
        assert_true(table + 4096 <= mem_size);
        uint64_t e = get64(mem, table + ((va >> shifts[level]) & 511) * 8);
        if (!(e & PTE_P))
            return UINT64_MAX;
        if ((e & (PTE_RW | PTE_US)) != (PTE_RW | PTE_US))
            fail_msg("va 0x%llx level %d: entry 0x%llx lacks U/W", (unsigned long long)va, level,
                     (unsigned long long)e);
        if (level == 3 || (level > 0 && (e & PTE_PS))) {
            uint64_t mask = (1ull << shifts[level]) - 1;
            return ((e & PTE_ADDR) & ~mask) | (va & mask);
        }
        table = e & PTE_ADDR;
    }
    return UINT64_MAX;
}

static inline void assert_all_zero(const uint8_t *mem, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (mem[i])
            fail_msg("memory written at 0x%zx after a refusal", i);
}

#endif
