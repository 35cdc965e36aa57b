/* test_pagewalk.c: page walks over page tables built in a buffer: every mode, size and failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x86/pagewalk.h"

#define MEM_SIZE (16ull << 20)
#define ADDR     0x000ffffffffff000ull
#define PWU      (PW_PTE_P | PW_PTE_W | PW_PTE_U)
#define PAGE     4096ull
#define MIB      (1ull << 20)
#define GIB      (1ull << 30)

struct gm {
    uint8_t *mem;
    uint64_t next; /* bump allocator for tables, from 0x1000 */
    uint64_t cr3;
};

static uint64_t get64(struct gm *g, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, g->mem + gpa, 8);
    return v;
}

static void put64(struct gm *g, uint64_t gpa, uint64_t v)
{
    memcpy(g->mem + gpa, &v, 8);
}

static void put32(struct gm *g, uint64_t gpa, uint32_t v)
{
    memcpy(g->mem + gpa, &v, 4);
}

static uint64_t alloc_table(struct gm *g)
{
    uint64_t a = g->next;
    g->next += PAGE;
    assert_true(g->next <= 4 * MIB); /* tables below 4 MiB, data above */
    return a;
}

static int setup(void **state)
{
    struct gm *g = calloc(1, sizeof *g);
    if (!g || !(g->mem = calloc(1, MEM_SIZE)))
        return -1;
    g->next = 0x1000;
    g->cr3 = alloc_table(g);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    struct gm *g = *state;
    free(g->mem);
    free(g);
    return 0;
}

static struct pagewalk_ctx long_ctx(struct gm *g, bool la57)
{
    return (struct pagewalk_ctx){
        .cr0 = PW_CR0_PE | PW_CR0_PG,
        .cr3 = g->cr3,
        .cr4 = PW_CR4_PAE | (la57 ? PW_CR4_LA57 : 0),
        .efer = PW_EFER_LME | PW_EFER_LMA | PW_EFER_NXE,
        .mem = g->mem,
        .mem_size = MEM_SIZE,
    };
}

/* The guest-physical address of gva's entry at `level`, creating P|W|U tables above it. */
static uint64_t entry(struct gm *g, int levels, uint64_t gva, int level)
{
    uint64_t table = g->cr3;
    for (int l = levels;; l--) {
        uint64_t ea = table + ((gva >> (12 + 9 * (l - 1))) & 511) * 8;
        if (l == level)
            return ea;
        if (!(get64(g, ea) & PW_PTE_P))
            put64(g, ea, alloc_table(g) | PWU);
        table = get64(g, ea) & ADDR;
    }
}

/* Maps gva to gpa with a leaf at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB). */
static uint64_t map(struct gm *g, int levels, uint64_t gva, uint64_t gpa, int leaf_level,
                    uint64_t flags)
{
    uint64_t ea = entry(g, levels, gva, leaf_level);
    put64(g, ea, gpa | flags | (leaf_level > 1 ? PW_PTE_PS : 0));
    return ea;
}

static void test_4k(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, false);
    struct pagewalk_result r;

    uint64_t leaf = map(g, 4, 0x400000, 0x900000, 1, PWU);
    assert_int_equal(pagewalk_translate(&c, 0x400123, &r), PW_OK);
    assert_int_equal(r.gpa, 0x900123);
    assert_int_equal(r.page_size, PAGE);
    assert_int_equal(r.levels, 4);
    assert_int_equal(r.level, 1);
    assert_true(r.writable && r.user && !r.nx);
    assert_int_equal(r.entry_gpa, leaf);
    assert_int_equal(r.entries[0], 0x900000 | PWU);
    assert_true(r.entries[3] & PW_PTE_P);
    assert_non_null(strstr(r.message, "0x400123 -> 0x900123 (4 KiB page, writable, user"));

    /* The higher half: PML4 index 256, through sign extension. */
    map(g, 4, 0xffff800000001000ull, 0xa00000, 1, PWU);
    assert_int_equal(pagewalk_translate(&c, 0xffff800000001ff8ull, &r), PW_OK);
    assert_int_equal(r.gpa, 0xa00ff8);
    assert_int_equal(entry(g, 4, 0xffff800000001000ull, 4), g->cr3 + 256 * 8);
}

static void test_2m_and_1g(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, false);
    struct pagewalk_result r;

    uint64_t pde = map(g, 4, 0x7fe00000, 0x600000, 2, PWU | (1ull << 12) /* PAT */);
    assert_int_equal(pagewalk_translate(&c, 0x7fe12345, &r), PW_OK);
    assert_int_equal(r.gpa, 0x612345);
    assert_int_equal(r.page_size, 2 * MIB);
    assert_int_equal(r.level, 2);
    put64(g, pde, get64(g, pde) | (1ull << 13));
    assert_int_equal(pagewalk_translate(&c, 0x7fe12345, &r), PW_RESERVED);
    assert_int_equal(r.level, 2);
    assert_non_null(strstr(r.message, "reserved bit"));

    uint64_t pdpte = map(g, 4, 0x8040000000ull, GIB, 3, PWU);
    assert_int_equal(pagewalk_translate(&c, 0x807fffffffull, &r), PW_OK);
    assert_int_equal(r.gpa, 2 * GIB - 1);
    assert_int_equal(r.page_size, GIB);
    assert_int_equal(r.level, 3);
    /* It translates, but guest RAM ends at 16 MiB: reading it is refused. */
    char buf[16];
    size_t n = 99;
    assert_int_equal(pagewalk_read_virt(&c, 0x8040000000ull, buf, sizeof buf, &n, &r),
                     PW_GPA_OUTSIDE);
    assert_int_equal(n, 0);
    assert_non_null(strstr(r.message, "outside guest RAM"));
    put64(g, pdpte, get64(g, pdpte) | (1ull << 20));
    assert_int_equal(pagewalk_translate(&c, 0x8040000000ull, &r), PW_RESERVED);
    assert_int_equal(r.level, 3);

    /* A 1 GiB page over RAM at 0 reads RAM. */
    map(g, 4, 0x4000000000ull, 0, 3, PWU);
    memcpy(g->mem + 0xabc000, "hello", 6);
    assert_int_equal(pagewalk_read_virt(&c, 0x4000abc000ull, buf, 6, &n, NULL), PW_OK);
    assert_string_equal(buf, "hello");
}

static void check_not_present(struct gm *g, int levels, uint64_t gva)
{
    struct pagewalk_ctx c = long_ctx(g, levels == 5);
    struct pagewalk_result r;

    map(g, levels, gva, 0x900000, 1, PWU);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_OK);
    for (int level = 1; level <= levels; level++) {
        uint64_t ea = entry(g, levels, gva, level), saved = get64(g, ea);
        put64(g, ea, saved & ~PW_PTE_P);
        assert_int_equal(pagewalk_translate(&c, gva + 8, &r), PW_NOT_PRESENT);
        assert_int_equal(r.level, level);
        assert_int_equal(r.entry_gpa, ea);
        char want[32];
        snprintf(want, sizeof want, "not present at level %d", level);
        assert_non_null(strstr(r.message, want));
        put64(g, ea, saved);
    }
}

static void test_not_present_each_level(void **state)
{
    check_not_present(*state, 4, 0x7f1234567000ull);
}

static void test_not_present_each_level_la57(void **state)
{
    check_not_present(*state, 5, 0x00ab123456789000ull);
}

static void test_table_outside_ram(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, false);
    struct pagewalk_result r;
    uint64_t gva = 0x1234567000ull;

    uint64_t pte = map(g, 4, gva, 0x900000, 1, PWU);
    uint64_t pml4e = entry(g, 4, gva, 4), saved = get64(g, pml4e);
    put64(g, pml4e, (MEM_SIZE + PAGE) | PWU);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_TABLE_OUTSIDE);
    assert_int_equal(r.level, 3);
    assert_int_equal(r.entry_gpa, MEM_SIZE + PAGE + ((gva >> 30) & 511) * 8);
    assert_non_null(strstr(r.message, "outside guest RAM"));
    put64(g, pml4e, ADDR | PWU); /* the top of the 52-bit space: no overflow */
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_TABLE_OUTSIDE);
    put64(g, pml4e, saved);

    c.cr3 = MEM_SIZE;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_TABLE_OUTSIDE);
    assert_int_equal(r.level, 4);
    c.cr3 = g->cr3;

    /* RAM ending inside the leaf entry refuses it; ending right after it does not. */
    c.mem_size = pte + 7;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_TABLE_OUTSIDE);
    assert_int_equal(r.level, 1);
    c.mem_size = pte + 8;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_OK);
    c.mem_size = 4;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_TABLE_OUTSIDE);
    c.mem = NULL;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_TABLE_OUTSIDE);
}

static void test_noncanonical(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, false);
    struct pagewalk_result r;

    assert_int_equal(pagewalk_translate(&c, 0x0000800000000000ull, &r), PW_NONCANONICAL);
    assert_non_null(strstr(r.message, "not canonical (48-bit)"));
    assert_int_equal(pagewalk_translate(&c, 0xffff7fffffffffffull, &r), PW_NONCANONICAL);
    assert_int_equal(pagewalk_translate(&c, 0x00007fffffffffffull, &r), PW_NOT_PRESENT);
    assert_int_equal(pagewalk_translate(&c, 0xffff800000000000ull, &r), PW_NOT_PRESENT);

    c = long_ctx(g, true);
    assert_int_equal(pagewalk_translate(&c, 0x0000800000000000ull, &r), PW_NOT_PRESENT);
    assert_int_equal(r.level, 5);
    assert_int_equal(pagewalk_translate(&c, 0x0100000000000000ull, &r), PW_NONCANONICAL);
    assert_non_null(strstr(r.message, "57-bit"));
    assert_int_equal(pagewalk_translate(&c, 0xff00000000000000ull, &r), PW_NOT_PRESENT);
    assert_int_equal(pagewalk_translate(&c, 0xfe00000000000000ull, &r), PW_NONCANONICAL);
}

static void test_cross_page_read(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, false);
    struct pagewalk_result r;
    uint8_t buf[3 * PAGE], want[3 * PAGE];
    size_t n;

    /* Three virtually adjacent pages, physically out of order. */
    static const uint64_t gpas[] = {0x900000, 0x700000, 0x800000};
    for (int i = 0; i < 3; i++) {
        map(g, 4, 0x10000 + (uint64_t)i * PAGE, gpas[i], 1, PWU);
        for (uint64_t b = 0; b < PAGE; b++)
            g->mem[gpas[i] + b] = want[(uint64_t)i * PAGE + b] = (uint8_t)(b * 7 + (uint64_t)i);
    }
    assert_int_equal(pagewalk_read_virt(&c, 0x10ff0, buf, 32, &n, NULL), PW_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(buf, want + 0xff0, 32);
    assert_int_equal(pagewalk_read_virt(&c, 0x10001, buf, sizeof buf - 1, &n, &r), PW_OK);
    assert_memory_equal(buf, want + 1, sizeof buf - 1);
    assert_int_equal(r.gpa, 0x800000); /* the last page's translation */

    /* The page after the third is not mapped: the first part is copied, then it stops. */
    memset(buf, 0, sizeof buf);
    assert_int_equal(pagewalk_read_virt(&c, 0x12ff0, buf, 32, &n, &r), PW_NOT_PRESENT);
    assert_int_equal(n, 16);
    assert_memory_equal(buf, want + 2 * PAGE + 0xff0, 16);
    assert_int_equal(r.gva, 0x13000);
    assert_int_equal(r.level, 1);

    assert_int_equal(pagewalk_read_virt(&c, 0xfffffffffffffff0ull, buf, 32, &n, &r),
                     PW_NONCANONICAL);
    assert_int_equal(n, 0);
    assert_non_null(strstr(r.message, "wraps"));
    assert_int_equal(pagewalk_read_virt(&c, 0x10000, buf, 0, &n, NULL), PW_OK);
    assert_int_equal(n, 0);
}

static void test_permission_bits(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, false);
    struct pagewalk_result r;
    uint64_t gva = 0x2000000000ull;

    map(g, 4, gva, 0x900000, 1, PW_PTE_P | PW_PTE_U);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_OK);
    assert_true(!r.writable && r.user && !r.nx);
    assert_non_null(strstr(r.message, "read-only, user, executable"));

    map(g, 4, gva, 0x900000, 1, PWU | PW_PTE_NX);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_OK);
    assert_true(r.writable && r.user && r.nx);

    /* Upper levels count too: U clear in the PDPT entry, NX in the PML4 entry. */
    map(g, 4, gva, 0x900000, 1, PWU);
    uint64_t pdpte = entry(g, 4, gva, 3), pml4e = entry(g, 4, gva, 4);
    put64(g, pdpte, get64(g, pdpte) & ~PW_PTE_U);
    put64(g, pml4e, get64(g, pml4e) | PW_PTE_NX);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_OK);
    assert_true(r.writable && !r.user && r.nx);
    assert_non_null(strstr(r.message, "writable, supervisor, no-execute"));

    /* NX without EFER.NXE is a reserved bit. */
    c.efer &= ~PW_EFER_NXE;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_RESERVED);
    assert_int_equal(r.level, 4);
    assert_non_null(strstr(r.message, "NXE"));

    /* PS in a PML4 entry is reserved too. */
    c.efer |= PW_EFER_NXE;
    put64(g, pml4e, get64(g, pml4e) | PW_PTE_PS);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_RESERVED);
    assert_int_equal(r.level, 4);
    assert_non_null(strstr(r.message, "PS in a non-leaf level"));
}

static void test_la57(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = long_ctx(g, true);
    struct pagewalk_result r;
    uint64_t gva = 0x00ff800000401000ull; /* PML5 index 255, PML4 index 256 */

    map(g, 5, gva, 0x900000, 1, PWU);
    assert_int_equal(entry(g, 5, gva, 5), g->cr3 + 255 * 8);
    assert_int_equal(pagewalk_translate(&c, gva + 0x10, &r), PW_OK);
    assert_int_equal(r.gpa, 0x900010);
    assert_int_equal(r.levels, 5);
    assert_true(r.entries[4] & PW_PTE_P);

    map(g, 5, 0xff00000040000000ull, 0x600000, 2, PWU);
    assert_int_equal(pagewalk_translate(&c, 0xff00000040000008ull, &r), PW_OK);
    assert_int_equal(r.gpa, 0x600008);
    assert_int_equal(r.page_size, 2 * MIB);

    /* The same tables read as 4-level give a different answer: LA57 matters. */
    c.cr4 &= ~PW_CR4_LA57;
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_NONCANONICAL);

    c.cr4 |= PW_CR4_LA57;
    uint64_t pml5e = entry(g, 5, gva, 5);
    put64(g, pml5e, get64(g, pml5e) | PW_PTE_PS);
    assert_int_equal(pagewalk_translate(&c, gva, &r), PW_RESERVED);
    assert_int_equal(r.level, 5);
    assert_non_null(strstr(r.message, "PS in a non-leaf level"));
}

static void test_pae(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = {.cr0 = PW_CR0_PE | PW_CR0_PG,
                             .cr3 = 0x5020,
                             .cr4 = PW_CR4_PAE,
                             .efer = PW_EFER_NXE,
                             .mem = g->mem,
                             .mem_size = MEM_SIZE};
    struct pagewalk_result r;

    /* gva 0x40201234: PDPTE 1, PDE 1, PTE 1. */
    put64(g, 0x5028, 0x6000 | PW_PTE_P);
    put64(g, 0x6008, 0x7000 | PWU);
    put64(g, 0x7008, 0x900000 | PW_PTE_P | PW_PTE_W | PW_PTE_NX);
    assert_int_equal(pagewalk_translate(&c, 0x40201234, &r), PW_OK);
    assert_int_equal(r.gpa, 0x900234);
    assert_int_equal(r.levels, 3);
    assert_true(r.writable && !r.user && r.nx);

    put64(g, 0x6010, 0x600000 | PWU | PW_PTE_PS); /* gva 0x40400000: a 2 MiB page */
    assert_int_equal(pagewalk_translate(&c, 0x40412345, &r), PW_OK);
    assert_int_equal(r.gpa, 0x612345);
    assert_int_equal(r.page_size, 2 * MIB);

    assert_int_equal(pagewalk_translate(&c, 0xc0000000, &r), PW_NOT_PRESENT);
    assert_int_equal(r.level, 3);
    assert_non_null(strstr(r.message, "PDPTE"));
    put64(g, 0x5028, 0x6000 | PW_PTE_P | PW_PTE_W); /* W is reserved in a PDPTE */
    assert_int_equal(pagewalk_translate(&c, 0x40201234, &r), PW_RESERVED);
    assert_int_equal(pagewalk_translate(&c, 0x100000000ull, &r), PW_NONCANONICAL);
}

static void test_legacy_32bit_and_paging_off(void **state)
{
    struct gm *g = *state;
    struct pagewalk_ctx c = {
        .cr0 = PW_CR0_PE | PW_CR0_PG, .cr3 = 0x6000, .mem = g->mem, .mem_size = MEM_SIZE};
    struct pagewalk_result r;

    /* gva 0x00401234: PDE 1, PTE 1.  gva 0x00c00000: PDE 3, a 4 MiB page with PSE. */
    put32(g, 0x6004, 0x7000 | PWU);
    put32(g, 0x7004, 0x900000 | PW_PTE_P);
    assert_int_equal(pagewalk_translate(&c, 0x401234, &r), PW_OK);
    assert_int_equal(r.gpa, 0x900234);
    assert_int_equal(r.levels, 2);
    assert_true(!r.writable && !r.user && !r.nx);

    put32(g, 0x600c, 0x00c00000 | (1u << 13) | PWU | PW_PTE_PS);
    c.cr4 = PW_CR4_PSE;
    assert_int_equal(pagewalk_translate(&c, 0xc12345, &r), PW_OK);
    assert_int_equal(r.gpa, 0x100c12345ull); /* PSE-36: bit 13 is address bit 32 */
    assert_int_equal(r.page_size, 4 * MIB);
    c.cr4 = 0; /* without PSE the PS bit is ignored: 0xc02000 is read as a page table */
    assert_int_equal(pagewalk_translate(&c, 0xc12345, &r), PW_NOT_PRESENT);
    assert_int_equal(r.entry_gpa, 0xc02000 + 0x12 * 4);
    assert_int_equal(r.level, 1);
    assert_int_equal(pagewalk_translate(&c, 0x800000, &r), PW_NOT_PRESENT);
    assert_int_equal(r.level, 2);
    assert_int_equal(pagewalk_translate(&c, 0x100000000ull, &r), PW_NONCANONICAL);

    c.cr0 = PW_CR0_PE; /* paging off: identity */
    assert_int_equal(pagewalk_translate(&c, 0xfee00000, &r), PW_OK);
    assert_int_equal(r.gpa, 0xfee00000);
    assert_int_equal(r.levels, 0);
    assert_int_equal(pagewalk_translate(&c, 0x100000000ull, &r), PW_NONCANONICAL);
    char buf[4];
    memcpy(g->mem + 0x1234, "abc", 4);
    assert_int_equal(pagewalk_read_virt(&c, 0x1234, buf, 4, NULL, NULL), PW_OK);
    assert_string_equal(buf, "abc");

    c.cr0 = PW_CR0_PG; /* paging without protection: no CPU runs like that */
    assert_int_equal(pagewalk_translate(&c, 0, &r), PW_BAD_MODE);
    c = long_ctx(g, false);
    c.cr4 = 0; /* long mode without PAE */
    assert_int_equal(pagewalk_translate(&c, 0, &r), PW_BAD_MODE);
    assert_non_null(strstr(r.message, "without CR4.PAE"));

    assert_string_equal(pagewalk_status_name(PW_NOT_PRESENT), "not present");
    assert_string_equal(pagewalk_status_name((enum pagewalk_status)99), "?");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_4k),
        T(test_2m_and_1g),
        T(test_not_present_each_level),
        T(test_not_present_each_level_la57),
        T(test_table_outside_ram),
        T(test_noncanonical),
        T(test_cross_page_read),
        T(test_permission_bits),
        T(test_la57),
        T(test_pae),
        T(test_legacy_32bit_and_paging_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
