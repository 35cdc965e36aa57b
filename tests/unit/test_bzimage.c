/* test_bzimage.c: bz_check/bz_load refuse malformed bzImages by name and lay out good ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86/bzimage.h"

#define MIB        (1024ull * 1024ull)
#define GUEST_MEM  (64 * MIB)
#define SETUP_SECT 3u
#define SETUP_SIZE ((SETUP_SECT + 1) * 512u)
#define KERNEL_LEN 8192u

/* A synthetic bzImage: SETUP_SECT sectors of setup code after the boot sector, then a
 * protected-mode kernel of KERNEL_LEN bytes whose byte i is (uint8_t)(i * 7). */
struct bz {
    uint8_t f[SETUP_SIZE + KERNEL_LEN];
    size_t len;
};

static void put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static void bz_init(struct bz *b)
{
    memset(b, 0, sizeof *b);
    b->len = sizeof b->f;
    uint8_t *f = b->f;
    f[0x1f1] = SETUP_SECT;
    put(f + 0x1f4, KERNEL_LEN / 16, 4); /* syssize */
    put(f + 0x1fe, 0xaa55, 2);
    f[0x200] = 0xeb;
    f[0x201] = 0x6a; /* header to 0x26c */
    memcpy(f + 0x202, "HdrS", 4);
    put(f + 0x206, 0x020f, 2);     /* protocol 2.15 */
    f[0x211] = 0x01;               /* LOADED_HIGH */
    put(f + 0x214, 0x100000, 4);   /* code32_start */
    put(f + 0x22c, 0x7fffffff, 4); /* initrd_addr_max */
    put(f + 0x230, 0x200000, 4);   /* kernel_alignment */
    f[0x234] = 1;                  /* relocatable */
    put(f + 0x236, 0x3, 2);        /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
    put(f + 0x238, 2047, 4);       /* cmdline_size */
    put(f + 0x258, 0x1000000, 8);  /* pref_address: 16 MiB */
    put(f + 0x260, 20 * MIB, 4);   /* init_size */
    for (uint32_t i = 0; i < KERNEL_LEN; i++)
        f[SETUP_SIZE + i] = (uint8_t)(i * 7);
}

static int check(const struct bz *b, uint64_t mem, uint64_t initrd, size_t cmdline, char *err)
{
    struct bz_image img;
    return bz_check(b->f, b->len, mem, initrd, cmdline, &img, err, 256);
}

/* Refused, with a message containing `want`. */
static void refused(const struct bz *b, uint64_t mem, uint64_t initrd, size_t cmdline,
                    const char *want)
{
    char err[256] = "";
    assert_int_equal(check(b, mem, initrd, cmdline, err), -1);
    if (!strstr(err, want))
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
}

static void test_loads_kernel_zero_page_and_initrd(void **state)
{
    (void)state;
    struct bz b;
    bz_init(&b);
    uint8_t *mem = calloc(1, GUEST_MEM);
    uint8_t initrd[5000];
    for (size_t i = 0; i < sizeof initrd; i++)
        initrd[i] = (uint8_t)(i ^ 0x5a);
    struct bz_image img;
    char err[256] = "";
    int rc = bz_load(b.f, b.len, initrd, sizeof initrd, "console=ttyS0 quiet", mem, GUEST_MEM, &img,
                     err, sizeof err);
    assert_int_equal(rc, 0);
    assert_memory_equal(mem + BZ_KERNEL_GPA, b.f + SETUP_SIZE, KERNEL_LEN);
    assert_int_equal(img.entry, BZ_KERNEL_GPA + 0x200);
    assert_int_equal(img.run_start, 0x1000000); /* 1 MiB aligned up is 2 MiB < pref_address */
    assert_int_equal(img.run_end, 0x1000000 + 20 * MIB);

    /* The initrd: page aligned, as high as RAM allows, above the kernel's area. */
    assert_int_equal(img.initrd_len, sizeof initrd);
    assert_int_equal(img.initrd_gpa % 4096, 0);
    assert_true(img.initrd_gpa + sizeof initrd <= GUEST_MEM);
    assert_true(img.initrd_gpa + sizeof initrd > GUEST_MEM - 8192);
    assert_true(img.initrd_gpa >= img.run_end);
    assert_memory_equal(mem + img.initrd_gpa, initrd, sizeof initrd);

    const uint8_t *bp = mem + BZ_ZERO_PAGE_GPA;
    assert_memory_equal(bp + 0x202, "HdrS", 4);
    assert_int_equal(get(bp + 0x206, 2), 0x020f);
    assert_int_equal(bp[0x210], 0xff); /* type_of_loader */
    assert_int_equal(bp[0x211], 0x81); /* LOADED_HIGH | CAN_USE_HEAP */
    assert_int_equal(get(bp + 0x228, 4), BZ_CMDLINE_GPA);
    assert_string_equal((const char *)mem + BZ_CMDLINE_GPA, "console=ttyS0 quiet");
    assert_int_equal(get(bp + 0x218, 4), img.initrd_gpa);
    assert_int_equal(get(bp + 0x21c, 4), sizeof initrd);
    assert_int_equal(get(bp + 0x260, 4), 20 * MIB); /* the kernel's own fields survive */

    /* e820: sorted, disjoint, all of RAM, hv's structures reserved, RAM from 1 MiB usable. */
    unsigned n = bp[0x1e8];
    assert_true(n >= 3);
    uint64_t at = 0;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *e = bp + 0x2d0 + 20 * i;
        uint64_t addr = get(e, 8), size = get(e + 8, 8);
        uint32_t type = (uint32_t)get(e + 16, 4);
        assert_int_equal(addr, at);
        at = addr + size;
        if (addr <= BZ_ZERO_PAGE_GPA && BZ_ZERO_PAGE_GPA < at)
            assert_int_equal(type, BZ_E820_RESERVED);
        if (addr <= BZ_PML4_GPA && BZ_PML4_GPA < at)
            assert_int_equal(type, BZ_E820_RESERVED);
        if (addr == BZ_KERNEL_GPA)
            assert_int_equal(type, BZ_E820_RAM);
    }
    assert_int_equal(at, GUEST_MEM);

    /* Identity page tables: PML4 -> PDPT -> PD, 2 MiB pages. */
    uint64_t pml4 = get(mem + BZ_PML4_GPA, 8);
    assert_int_equal(pml4 & ~0xfffull, BZ_PDPT_GPA);
    uint64_t pdpt1 = get(mem + BZ_PDPT_GPA + 8, 8);
    uint64_t pde = get(mem + (pdpt1 & ~0xfffull) + 8 * 3, 8); /* 1 GiB + 6 MiB */
    assert_int_equal(pde & ~0xfffull, (1ull << 30) + 3 * 2 * MIB);
    assert_int_equal(pde & 0x83, 0x83);
    free(mem);
}

static void test_entry_state(void **state)
{
    (void)state;
    struct bz_image img = {.entry = 0x100200};
    struct kvm_regs r;
    struct kvm_sregs s;
    memset(&s, 0xee, sizeof s);
    bz_vcpu_regs(&img, &r);
    bz_vcpu_sregs(&s);
    assert_int_equal(r.rip, 0x100200);
    assert_int_equal(r.rsi, BZ_ZERO_PAGE_GPA);
    assert_int_equal(r.rflags & 0x200, 0); /* interrupts off */
    assert_int_equal(s.cs.selector, 0x10);
    assert_int_equal(s.cs.l, 1);
    assert_int_equal(s.cs.dpl, 0);
    assert_int_equal(s.ds.selector, 0x18);
    assert_int_equal(s.ss.selector, 0x18);
    assert_int_equal(s.cr3, BZ_PML4_GPA);
    assert_true(s.cr0 & 0x80000001);
    assert_int_equal(s.cr0 & 0x60000000, 0); /* caches on */
    assert_true(s.cr4 & 0x20);
    assert_int_equal(s.efer & 0x500, 0x500);
    assert_int_equal(s.gdt.base, BZ_GDT_GPA);
}

static void test_setup_sects_zero_means_four(void **state)
{
    (void)state;
    struct bz b;
    bz_init(&b);
    b.f[0x1f1] = 0;
    put(b.f + 0x1f4, (KERNEL_LEN - 1024) / 16, 4);
    struct bz_image img;
    char err[256];
    assert_int_equal(bz_check(b.f, b.len, GUEST_MEM, 0, 0, &img, err, sizeof err), 0);
    assert_int_equal(img.setup_size, 5 * 512);
    assert_int_equal(img.kernel_len, KERNEL_LEN - 1024);
}

static void test_refuses_bad_headers(void **state)
{
    (void)state;
    struct bz b;
    bz_init(&b);
    memcpy(b.f + 0x202, "ELF!", 4);
    refused(&b, GUEST_MEM, 0, 0, "no \"HdrS\" magic");

    bz_init(&b);
    put(b.f + 0x206, 0x020b, 2);
    refused(&b, GUEST_MEM, 0, 0, "boot protocol 2.11 is too old");

    bz_init(&b);
    put(b.f + 0x236, 0x2, 2);
    refused(&b, GUEST_MEM, 0, 0, "no 64-bit entry point");

    bz_init(&b);
    b.f[0x211] = 0;
    refused(&b, GUEST_MEM, 0, 0, "zImage");

    bz_init(&b);
    b.len = 0x200;
    refused(&b, GUEST_MEM, 0, 0, "truncated");

    bz_init(&b);
    b.f[0x1f1] = 200; /* setup past the end of the file */
    refused(&b, GUEST_MEM, 0, 0, "setup_sects 200");

    bz_init(&b);
    put(b.f + 0x1f4, 0, 4);
    refused(&b, GUEST_MEM, 0, 0, "syssize is 0");

    bz_init(&b);
    put(b.f + 0x1f4, 0xffffffff, 4); /* syssize * 16 far past the file */
    refused(&b, GUEST_MEM, 0, 0, "truncated: syssize");

    bz_init(&b);
    put(b.f + 0x260, 100, 4);
    refused(&b, GUEST_MEM, 0, 0, "init_size 100 is smaller");

    bz_init(&b);
    put(b.f + 0x230, 0x300000, 4);
    refused(&b, GUEST_MEM, 0, 0, "kernel_alignment 0x300000");
}

static void test_refuses_what_does_not_fit(void **state)
{
    (void)state;
    struct bz b;
    bz_init(&b);
    /* Decompression needs RAM up to 16 MiB + 20 MiB. */
    refused(&b, 32 * MIB, 0, 0, "the kernel needs RAM up to 0x2400000");
    put(b.f + 0x260, 0xffffffff, 4);
    refused(&b, GUEST_MEM, 0, 0, "init_size 4294967295");
    bz_init(&b);
    put(b.f + 0x258, 0xfffffffffff00000ull, 8); /* pref_address + init_size overflows */
    refused(&b, GUEST_MEM, 0, 0, "the kernel needs RAM");
    bz_init(&b);
    refused(&b, 4096 * MIB, 0, 0, "16 MiB to 3072 MiB");
    refused(&b, 8 * MIB, 0, 0, "16 MiB to 3072 MiB");
    refused(&b, GUEST_MEM, 0, 2048, "command line of 2048 bytes; this kernel takes at most 2047");
    /* The initrd must fit above the kernel's 36 MiB. */
    refused(&b, GUEST_MEM, 30 * MIB, 0, "initrd of 31457280 bytes is too large");
    refused(&b, GUEST_MEM, 1ull << 33, 0, "4 GiB");
    char err[256];
    assert_int_equal(check(&b, GUEST_MEM, 27 * MIB, 0, err), 0);
}

static void test_initrd_stays_below_initrd_addr_max(void **state)
{
    (void)state;
    struct bz b;
    bz_init(&b);
    put(b.f + 0x22c, 48 * MIB - 1, 4);
    struct bz_image img;
    char err[256];
    assert_int_equal(bz_check(b.f, b.len, GUEST_MEM, 10000, 0, &img, err, sizeof err), 0);
    assert_true(img.initrd_gpa + 10000 <= 48 * MIB);
    assert_true(img.initrd_gpa >= 48 * MIB - 3 * 4096);
    put(b.f + 0x22c, 37 * MIB - 1, 4); /* room for 1 MiB above the kernel only */
    refused(&b, GUEST_MEM, 2 * MIB, 0, "too large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_kernel_zero_page_and_initrd),
        cmocka_unit_test(test_entry_state),
        cmocka_unit_test(test_setup_sects_zero_means_four),
        cmocka_unit_test(test_refuses_bad_headers),
        cmocka_unit_test(test_refuses_what_does_not_fit),
        cmocka_unit_test(test_initrd_stays_below_initrd_addr_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
