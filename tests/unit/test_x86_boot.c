/* test_x86_boot.c: boot_write_tables' page tables, GDT/TSSes, IDT and boot info; vCPU register
 * setup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

#define RFLAGS_IF   (1ull << 9)
#define RFLAGS_IOPL (3ull << 12)

static uint64_t get64(const uint8_t *mem, uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, mem + gpa, sizeof v);
    return v;
}

static struct boot_params params(void)
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

static int setup(void **state)
{
    uint8_t *mem = calloc(1, MEM_SIZE);
    if (!mem)
        return -1;
    *state = mem;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static struct vigil_boot_info boot_info(const uint8_t *mem)
{
    struct vigil_boot_info bi;
    memcpy(&bi, mem + BOOT_INFO_GPA, sizeof bi);
    return bi;
}

/* Walks the guest page tables for va; returns the physical address or UINT64_MAX when not
 * present.  Every present level must grant user and write access. */
static uint64_t walk(const uint8_t *mem, uint64_t mem_size, uint64_t va)
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

static void assert_all_zero(const uint8_t *mem, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (mem[i])
            fail_msg("memory written at 0x%zx after a refusal", i);
}

static void test_page_tables(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);

    /* The exact entries. */
    assert_int_equal(get64(mem, BOOT_PML4_GPA), BOOT_PDPT_GPA | 7);
    for (uint64_t i = 1; i < 512; i++)
        assert_int_equal(get64(mem, BOOT_PML4_GPA + i * 8), 0);
    assert_int_equal(get64(mem, BOOT_PDPT_GPA), BOOT_PD_GPA | 7);
    for (uint64_t i = 1; i < 512; i++)
        assert_int_equal(get64(mem, BOOT_PDPT_GPA + i * 8), 0);
    assert_int_equal(get64(mem, BOOT_PD_GPA), BOOT_PT0_GPA | 7); /* 4 KiB pages, not PS */
    for (uint64_t i = 1; i < MEM_SIZE / (2 * MIB); i++)
        assert_int_equal(get64(mem, BOOT_PD_GPA + i * 8), (i << 21) | PTE_PS | 7);
    for (uint64_t i = MEM_SIZE / (2 * MIB); i < 512; i++)
        assert_int_equal(get64(mem, BOOT_PD_GPA + i * 8), 0); /* nothing past RAM */
    assert_int_equal(get64(mem, BOOT_PT0_GPA), 0);            /* page 0 absent */
    for (uint64_t i = 1; i < 512; i++)
        assert_int_equal(get64(mem, BOOT_PT0_GPA + i * 8), (i << 12) | 7);

    /* And by walking them: every page identity mapped except page 0. */
    assert_int_equal(walk(mem, MEM_SIZE, 0), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, 0xfff), UINT64_MAX);
    for (uint64_t va = 0x1000; va < MEM_SIZE; va += 0x1000) {
        uint64_t pa = walk(mem, MEM_SIZE, va + 0x123);
        if (pa != va + 0x123)
            fail_msg("va 0x%llx maps to 0x%llx", (unsigned long long)va, (unsigned long long)pa);
    }
    assert_int_equal(walk(mem, MEM_SIZE, MEM_SIZE), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, GIB), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, 1ull << 39), UINT64_MAX);
}

static void test_page_tables_multi_gib(void **state)
{
    (void)state;
    const uint64_t size = 2 * GIB + 2 * MIB; /* three page directories, the last one entry */
    uint8_t *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(mem != MAP_FAILED);
    struct boot_params p = params();
    p.mem_size = size;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    for (uint64_t g = 0; g < 3; g++)
        assert_int_equal(get64(mem, BOOT_PDPT_GPA + g * 8), (BOOT_PD_GPA + g * 0x1000) | 7);
    assert_int_equal(get64(mem, BOOT_PDPT_GPA + 3 * 8), 0);
    assert_int_equal(get64(mem, BOOT_PD_GPA + 0x1000), GIB | PTE_PS | 7);
    assert_int_equal(get64(mem, BOOT_PD_GPA + 0x2000), 2 * GIB | PTE_PS | 7);
    assert_int_equal(get64(mem, BOOT_PD_GPA + 0x2000 + 8), 0);
    for (uint64_t va = 2 * MIB; va < size; va += 2 * MIB) {
        assert_int_equal(walk(mem, size, va), va);
        assert_int_equal(walk(mem, size, va + 2 * MIB - 8), va + 2 * MIB - 8);
    }
    assert_int_equal(walk(mem, size, size), UINT64_MAX);
    assert_int_equal(walk(mem, size, 0), UINT64_MAX);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.mem_size, size);
    assert_int_equal(bi.mmap[bi.mmap_count - 1].base + bi.mmap[bi.mmap_count - 1].len, size);
    munmap(mem, size);
}

static void test_gdt_tss(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    assert_int_equal(get64(mem, BOOT_GDT_GPA), 0);
    uint64_t kcs = get64(mem, BOOT_GDT_GPA + SEL_KERNEL_CS);
    uint64_t ucs = get64(mem, BOOT_GDT_GPA + (SEL_USER_CS & ~7));
    uint64_t uds = get64(mem, BOOT_GDT_GPA + (SEL_USER_DS & ~7));
    /* Present, code, long mode (L), DPL 0 / 3. */
    assert_int_equal((kcs >> 47) & 1, 1);
    assert_int_equal((kcs >> 43) & 1, 1);
    assert_int_equal((kcs >> 53) & 1, 1);
    assert_int_equal((kcs >> 45) & 3, 0);
    assert_int_equal((ucs >> 47) & 1, 1);
    assert_int_equal((ucs >> 43) & 1, 1);
    assert_int_equal((ucs >> 53) & 1, 1);
    assert_int_equal((ucs >> 45) & 3, 3);
    assert_int_equal((uds >> 43) & 1, 0); /* data */
    assert_int_equal((uds >> 41) & 1, 1); /* writable */
    assert_int_equal((uds >> 45) & 3, 3);

    /* One 16-byte TSS descriptor per vCPU from 0x30, each TSS with its own IST stacks and
     * the one I/O bitmap: all ports allowed, then the 0xff terminator. */
    for (uint32_t i = 0; i < p.vcpus; i++) {
        uint64_t sel = SEL_TSS + 16 * i;
        uint64_t lo = get64(mem, BOOT_GDT_GPA + sel), hi = get64(mem, BOOT_GDT_GPA + sel + 8);
        uint64_t base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);
        uint64_t limit = (lo & 0xffff) | (((lo >> 48) & 0xf) << 16);
        assert_int_equal(base, BOOT_TSS_GPA + i * BOOT_TSS_STRIDE);
        assert_int_equal((lo >> 40) & 0xf, 0xb); /* busy 64-bit TSS */
        assert_int_equal((lo >> 47) & 1, 1);
        uint16_t iomap;
        memcpy(&iomap, mem + base + 0x66, sizeof iomap);
        assert_true(iomap >= 0x68);
        assert_int_equal(base + iomap, BOOT_IOMAP_GPA);
        assert_int_equal(limit, iomap + 8192); /* up to and including the terminator */
        for (unsigned ist = 1; ist <= BOOT_IST_PER_VCPU; ist++) {
            uint64_t top = get64(mem, base + 0x24 + 8 * (ist - 1));
            assert_int_equal(top, boot_ist_top(i, ist));
            assert_int_equal(top % 16, 0);
            assert_true(top - BOOT_IST_SIZE >= BOOT_IST_GPA && top <= ELF_LOAD_MIN_ADDR);
        }
        assert_int_equal(get64(mem, base + 0x4), 0); /* RSP0: no privilege changes */
    }
    assert_int_equal(get64(mem, BOOT_GDT_GPA + SEL_TSS + 16 * p.vcpus), 0);
    for (size_t i = 0; i < 8192; i++)
        assert_int_equal(mem[BOOT_IOMAP_GPA + i], 0);
    assert_int_equal(mem[BOOT_IOMAP_GPA + 8192], 0xff);
}

/* No two vCPUs share an IST stack, and none overlaps another structure. */
static void test_ist_stacks_apart(void **state)
{
    (void)state;
    for (uint32_t a = 0; a < BOOT_MAX_VCPUS; a++)
        for (unsigned i = 1; i <= BOOT_IST_PER_VCPU; i++) {
            uint64_t top = boot_ist_top(a, i);
            assert_true(top - BOOT_IST_SIZE >= BOOT_IST_GPA);
            assert_true(top <= ELF_LOAD_MIN_ADDR);
            for (uint32_t b = 0; b < BOOT_MAX_VCPUS; b++)
                for (unsigned j = 1; j <= BOOT_IST_PER_VCPU; j++)
                    if (a != b || i != j)
                        assert_true(boot_ist_top(b, j) != top);
        }
    assert_true(BOOT_PD_GPA + (BOOT_MAX_MEM >> 30) * 4096 <= BOOT_IST_GPA);
}

static void decode_gate(const uint8_t *gate, uint64_t *entry, uint16_t *cs, unsigned *ist,
                        unsigned *type, unsigned *dpl, unsigned *present)
{
    uint64_t lo = get64(gate, 0), hi = get64(gate, 8);
    *entry = (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16) | ((hi & 0xffffffff) << 32);
    *cs = (uint16_t)(lo >> 16);
    *ist = (lo >> 32) & 7;
    *type = (lo >> 40) & 0xf;
    *dpl = (lo >> 45) & 3;
    *present = (lo >> 47) & 1;
    assert_int_equal(hi >> 32, 0); /* reserved */
    assert_int_equal((lo >> 35) & 0x1f, 0);
}

static void test_idt_gate_encoding(void **state)
{
    (void)state;
    uint8_t gate[16];
    uint64_t entry;
    uint16_t cs;
    unsigned ist, type, dpl, present;
    boot_idt_gate(gate, 0xffffffff81234567ull, SEL_KERNEL_CS, 3, 0);
    decode_gate(gate, &entry, &cs, &ist, &type, &dpl, &present);
    assert_int_equal(entry, 0xffffffff81234567ull);
    assert_int_equal(cs, SEL_KERNEL_CS);
    assert_int_equal(ist, 3);
    assert_int_equal(type, 0xe); /* 64-bit interrupt gate: IF cleared on entry */
    assert_int_equal(dpl, 0);
    assert_int_equal(present, 1);
    boot_idt_gate(gate, 0x100040, SEL_USER_CS, 1, 3);
    decode_gate(gate, &entry, &cs, &ist, &type, &dpl, &present);
    assert_int_equal(entry, 0x100040);
    assert_int_equal(cs, SEL_USER_CS);
    assert_int_equal(dpl, 3);
    boot_idt_gate(gate, 0, SEL_USER_CS, 1, 3); /* no entry: an absent gate, all zero */
    assert_int_equal(get64(gate, 0), 0);
    assert_int_equal(get64(gate, 8), 0);
}

static void test_idt_armed_and_disarmed(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    for (size_t i = 0; i < BOOT_IDT_VECTORS * 16; i++)
        assert_int_equal(mem[BOOT_IDT_GPA + i], 0); /* booted without gates */

    uint64_t entries[BOOT_IDT_VECTORS];
    for (unsigned v = 0; v < BOOT_IDT_VECTORS; v++)
        entries[v] = v == 15 ? 0 : 0x100000 + 16 * v;
    for (int cpl0 = 0; cpl0 < 2; cpl0++) {
        p.flags = cpl0 ? VIGIL_BOOT_F_CPL0 : 0;
        boot_write_idt(mem, &p, entries);
        for (unsigned v = 0; v < BOOT_IDT_VECTORS; v++) {
            uint64_t entry;
            uint16_t cs;
            unsigned ist, type, dpl, present;
            decode_gate(mem + BOOT_IDT_GPA + 16 * v, &entry, &cs, &ist, &type, &dpl, &present);
            if (v == 15) {
                assert_int_equal(present, 0);
                continue;
            }
            assert_int_equal(present, 1);
            assert_int_equal(entry, entries[v]);
            /* The VM's own code segment: delivery never changes privilege. */
            assert_int_equal(cs, cpl0 ? SEL_KERNEL_CS : SEL_USER_CS);
            assert_int_equal(type, 0xe);
            assert_int_equal(dpl, v == 3 || v == 4 ? 3 : 0);
            /* Every gate switches stacks, so a stack overflow reaches its handler. */
            unsigned want = v == 2    ? BOOT_IST_NMI
                            : v == 8  ? BOOT_IST_DF
                            : v == 18 ? BOOT_IST_MC
                                      : BOOT_IST_FAULT;
            assert_int_equal(ist, want);
            assert_int_equal(boot_idt_ist(v), want);
        }
    }
    boot_write_idt(mem, &p, NULL);
    for (size_t i = 0; i < BOOT_IDT_VECTORS * 16; i++)
        assert_int_equal(mem[BOOT_IDT_GPA + i], 0);
}

static void test_rejects_too_many_vcpus(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.vcpus = BOOT_MAX_VCPUS + 1;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "17 vCPUs: 1 to 16 are supported"));
    assert_all_zero(mem, MEM_SIZE);
    p.vcpus = BOOT_MAX_VCPUS;
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
}

static void test_boot_info(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.magic, VIGIL_BOOT_MAGIC);
    assert_int_equal(bi.abi_version, VIGIL_ABI_VERSION);
    assert_int_equal(bi.size, sizeof bi);
    assert_int_equal(bi.flags, VIGIL_BOOT_F_SERVICE);
    assert_int_equal(bi.vcpu_count, 2);
    assert_int_equal(bi.mem_size, MEM_SIZE);
    assert_int_equal(bi.stack_size, BOOT_STACK_SIZE);
    assert_int_equal(bi.tsc_hz, 2100000000ull);
    assert_string_equal(bi.vm_name, "service");
    assert_int_equal(bi.cmdline_gpa, BOOT_CMDLINE_GPA);
    assert_int_equal(bi.cmdline_len, strlen("console=ttyS0 quiet"));
    assert_memory_equal(mem + BOOT_CMDLINE_GPA, "console=ttyS0 quiet", bi.cmdline_len + 1);
    /* The boot structures stay out of each other's way. */
    assert_true(BOOT_INFO_GPA + sizeof bi <= BOOT_CMDLINE_GPA);
}

/* A device window is listed in the boot info and mapped, uncached, in its own 2 MiB page(s)
 * above RAM, even in a GiB RAM does not reach; RAM's mapping is unchanged. */
static void test_device_window(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.ndevices = 1;
    p.devices[0] = (struct vigil_boot_device){
        .type = VIGIL_DEV_VIRTIO_MMIO, .id = 1, .base = 0xd0000000ull, .size = 0x200, .irq = 5};
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_true(VIGIL_BOOT_HAS_DEVICES(&bi));
    assert_int_equal(bi.device_count, 1);
    assert_memory_equal(&bi.devices[0], &p.devices[0], sizeof bi.devices[0]);
    assert_int_equal(walk(mem, MEM_SIZE, 0xd0000000ull + 0x50), 0xd0000050ull);
    uint64_t pde = get64(mem, BOOT_PD_GPA + (0xd0000000ull >> 21) * 8);
    assert_int_equal(pde & 0x18, 0x18); /* PCD | PWT: device registers are not cached */
    assert_int_equal(walk(mem, MEM_SIZE, 0xd0000000ull + 2 * MIB), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, 0xd0000000ull - 8), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, MEM_SIZE - 8), MEM_SIZE - 8);
}

static void test_device_window_refused(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    p.ndevices = 1;
    p.devices[0] = (struct vigil_boot_device){
        .type = VIGIL_DEV_VIRTIO_MMIO, .base = MEM_SIZE - 4096, .size = 0x200};
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "above RAM"));
    p.devices[0].base = BOOT_MAX_MEM - 0x100; /* runs past the page directories hv keeps */
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    p.devices[0].base = UINT64_MAX - 0x100; /* wraps */
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    p.devices[0] = (struct vigil_boot_device){.base = 0xd0000000ull, .size = 0};
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    p.ndevices = VIGIL_BOOT_DEV_MAX + 1;
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_all_zero(mem, MEM_SIZE);
}

/* Checks that the memory map is sorted, contiguous, covers [0, mem_size) and matches `want`. */
static void check_mmap(const struct vigil_boot_info *bi, const struct vigil_mem_region *want,
                       uint32_t n)
{
    assert_int_equal(bi->mmap_count, n);
    uint64_t at = 0;
    for (uint32_t i = 0; i < bi->mmap_count; i++) {
        const struct vigil_mem_region *r = &bi->mmap[i];
        assert_int_equal(r->base, at);
        assert_true(r->len > 0);
        assert_int_equal(r->base, want[i].base);
        assert_int_equal(r->len, want[i].len);
        assert_int_equal(r->type, want[i].type);
        at = r->base + r->len;
    }
    assert_int_equal(at, bi->mem_size);
}

static void test_memory_map(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    const uint64_t stacks = 2 * BOOT_STACK_SIZE;
    const struct vigil_mem_region want[] = {
        {0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED, 0},
        {ELF_LOAD_MIN_ADDR, 0x3000, VIGIL_MEM_IMAGE, 0},
        {ELF_LOAD_MIN_ADDR + 0x3000, MEM_SIZE - stacks - ELF_LOAD_MIN_ADDR - 0x3000, VIGIL_MEM_FREE,
         0},
        {MEM_SIZE - stacks, stacks, VIGIL_MEM_STACKS, 0},
    };
    check_mmap(&bi, want, 4);
}

static void test_memory_map_gap_below_image(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.vcpus = 3;
    p.image_start = 2 * MIB;
    p.image_end = 3 * MIB;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    const uint64_t stacks = 3 * BOOT_STACK_SIZE;
    const struct vigil_mem_region want[] = {
        {0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED, 0},
        {ELF_LOAD_MIN_ADDR, MIB, VIGIL_MEM_FREE, 0},
        {2 * MIB, MIB, VIGIL_MEM_IMAGE, 0},
        {3 * MIB, MEM_SIZE - stacks - 3 * MIB, VIGIL_MEM_FREE, 0},
        {MEM_SIZE - stacks, stacks, VIGIL_MEM_STACKS, 0},
    };
    check_mmap(&bi, want, 5);
}

static void test_image_right_below_stacks(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.image_end = MEM_SIZE - 2 * BOOT_STACK_SIZE; /* no free memory above the image */
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    const struct vigil_mem_region want[] = {
        {0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED, 0},
        {ELF_LOAD_MIN_ADDR, p.image_end - ELF_LOAD_MIN_ADDR, VIGIL_MEM_IMAGE, 0},
        {p.image_end, 2 * BOOT_STACK_SIZE, VIGIL_MEM_STACKS, 0},
    };
    check_mmap(&bi, want, 3);
}

static void test_rejects_bad_mem_size(void **state)
{
    uint8_t *mem = *state;
    static const uint64_t sizes[] = {
        MEM_SIZE - 4096,        /* not a multiple of 2 MiB */
        5 * MIB,                /* not a multiple of 2 MiB */
        2 * MIB,                /* below 4 MiB */
        0,                      /* below 4 MiB */
        BOOT_MAX_MEM + 2 * MIB, /* above 64 GiB */
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct boot_params p = params();
        p.mem_size = sizes[i];
        char err[256] = "";
        assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
        assert_non_null(strstr(err, "must be a multiple of 2 MiB in [4 MiB, 64 GiB]"));
    }
    /* The smallest size is fine. */
    struct boot_params p = params();
    p.mem_size = BOOT_MIN_MEM;
    p.vcpus = 1;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
}

static void test_rejects_no_room_for_stacks(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.image_end = MEM_SIZE - 2 * BOOT_STACK_SIZE + 4096;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "2 vCPU stacks do not fit in 8 MiB"));
    assert_all_zero(mem, MEM_SIZE);

    p = params();
    p.vcpus = 32; /* 8 MiB of stacks */
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "32 vCPU stacks do not fit"));
    assert_all_zero(mem, MEM_SIZE);
}

static void test_cmdline_limits(void **state)
{
    uint8_t *mem = *state;
    char *cmd = malloc(VIGIL_BOOT_CMDLINE_MAX + 1);
    assert_non_null(cmd);
    memset(cmd, 'c', VIGIL_BOOT_CMDLINE_MAX);
    cmd[VIGIL_BOOT_CMDLINE_MAX] = '\0'; /* 4096 characters: one too many */
    struct boot_params p = params();
    p.cmdline = cmd;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "command line is 4096 bytes, the limit is 4095"));
    assert_all_zero(mem, MEM_SIZE);

    cmd[VIGIL_BOOT_CMDLINE_MAX - 1] = '\0'; /* 4095: fits with its NUL */
    memset(mem + BOOT_CMDLINE_GPA, 0x55, VIGIL_BOOT_CMDLINE_MAX);
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.cmdline_len, VIGIL_BOOT_CMDLINE_MAX - 1);
    assert_memory_equal(mem + BOOT_CMDLINE_GPA, cmd, VIGIL_BOOT_CMDLINE_MAX - 1);
    assert_int_equal(mem[BOOT_CMDLINE_GPA + VIGIL_BOOT_CMDLINE_MAX - 1], 0);
    /* The command line page stops short of the page tables. */
    assert_int_equal(get64(mem, BOOT_PML4_GPA), BOOT_PDPT_GPA | 7);
    free(cmd);
}

static void test_no_cmdline_or_name(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.cmdline = NULL;
    p.name = NULL;
    memset(mem + BOOT_CMDLINE_GPA, 0x55, 16);
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.cmdline_len, 0);
    assert_int_equal(mem[BOOT_CMDLINE_GPA], 0);
    assert_string_equal(bi.vm_name, "");

    p.name = "a-very-long-virtual-machine-name-indeed";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    bi = boot_info(mem);
    assert_int_equal(strnlen(bi.vm_name, sizeof bi.vm_name), VIGIL_BOOT_VM_NAME_MAX - 1);
    assert_memory_equal(bi.vm_name, p.name, VIGIL_BOOT_VM_NAME_MAX - 1);
}

static void test_vcpu_regs(void **state)
{
    (void)state;
    struct boot_params p = params();
    p.vcpus = 4;
    for (uint32_t i = 0; i < p.vcpus; i++) {
        struct kvm_regs r;
        memset(&r, 0xff, sizeof r);
        boot_vcpu_regs(&p, i, &r);
        assert_int_equal(r.rip, p.entry);
        assert_int_equal(r.rdi, BOOT_INFO_GPA);
        assert_int_equal(r.rsi, i);
        assert_int_equal(r.rflags & RFLAGS_IOPL, RFLAGS_IOPL);
        assert_int_equal(r.rflags & RFLAGS_IF, 0);
        assert_int_equal(r.rflags, 0x3002);
        assert_int_equal(r.rsp, MEM_SIZE - i * BOOT_STACK_SIZE);
        assert_int_equal(r.rsp % 16, 0);
        /* Each stack lies inside the STACKS region and apart from the others. */
        assert_true(r.rsp - BOOT_STACK_SIZE >= MEM_SIZE - p.vcpus * BOOT_STACK_SIZE);
        assert_int_equal(r.rax, 0);
        assert_int_equal(r.rbp, 0);
        assert_int_equal(r.r15, 0);
    }
}

static struct kvm_cpuid2 *make_cpuid(uint32_t n)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof c->entries[0]);
    assert_non_null(c);
    c->nent = n;
    return c;
}

/* A CPU with XSAVE (x87/SSE/AVX and PKRU) and FSGSBASE. */
static struct kvm_cpuid2 *full_cpuid(void)
{
    struct kvm_cpuid2 *c = make_cpuid(4);
    c->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xd};
    c->entries[1] = (struct kvm_cpuid_entry2){.function = 1, .ecx = 1u << 26};
    c->entries[2] = (struct kvm_cpuid_entry2){
        .function = 7, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 1};
    c->entries[3] = (struct kvm_cpuid_entry2){
        .function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x207};
    return c;
}

static void check_segment(const struct kvm_segment *s, uint16_t sel, uint8_t dpl, bool code)
{
    assert_int_equal(s->selector, sel);
    assert_int_equal(s->selector & 3, dpl);
    assert_int_equal(s->dpl, dpl);
    assert_int_equal(s->present, 1);
    assert_int_equal(s->s, 1);
    assert_int_equal(s->base, 0);
    assert_int_equal(s->unusable, 0);
    if (code) {
        assert_int_equal(s->l, 1);
        assert_int_equal(s->db, 0);
        assert_int_equal(s->type & 8, 8);
    } else {
        assert_int_equal(s->type & 0xa, 2); /* data, writable */
    }
}

static void check_long_mode(const struct kvm_sregs *s, uint32_t index, uint32_t vcpus)
{
    assert_int_equal(s->cr3, BOOT_PML4_GPA);
    assert_int_equal(s->cr0 & 0x80000001ull, 0x80000001ull); /* PG, PE */
    assert_int_equal(s->cr0 & (1ull << 16), 1ull << 16);     /* WP */
    assert_int_equal(s->cr0 & (1ull << 30), 0);              /* caches on */
    assert_int_equal(s->cr4 & (1ull << 5), 1ull << 5);       /* PAE */
    assert_int_equal(s->cr4 & (3ull << 9), 3ull << 9);       /* OSFXSR, OSXMMEXCPT */
    assert_int_equal(s->efer & 0x500, 0x500);                /* LME, LMA */
    assert_int_equal(s->gdt.base, BOOT_GDT_GPA);
    assert_int_equal(s->gdt.limit, SEL_TSS + 16 * vcpus - 1);
    assert_int_equal(s->idt.base, BOOT_IDT_GPA);
    assert_int_equal(s->idt.limit, BOOT_IDT_VECTORS * 16 - 1);
    assert_int_equal(s->tr.selector, SEL_TSS + 16 * index);
    assert_int_equal(s->tr.base, BOOT_TSS_GPA + index * BOOT_TSS_STRIDE);
    assert_int_equal(s->tr.limit, BOOT_IOMAP_GPA - s->tr.base + 8192);
    assert_int_equal(s->tr.type, 11);
    assert_int_equal(s->tr.present, 1);
    assert_int_equal(s->ldt.unusable, 1);
}

static void test_vcpu_sregs_cpl3(void **state)
{
    (void)state;
    struct boot_params p = params();
    struct kvm_cpuid2 *c = full_cpuid();
    struct kvm_sregs s;
    memset(&s, 0, sizeof s);
    s.apic_base = 0xfee00900;
    boot_vcpu_sregs(&p, 0, c, &s);
    check_segment(&s.cs, SEL_USER_CS, 3, true);
    check_segment(&s.ss, SEL_USER_DS, 3, false);
    check_segment(&s.ds, SEL_USER_DS, 3, false);
    check_segment(&s.es, SEL_USER_DS, 3, false);
    check_segment(&s.fs, SEL_USER_DS, 3, false);
    check_segment(&s.gs, SEL_USER_DS, 3, false);
    check_long_mode(&s, 0, p.vcpus);
    assert_int_equal(s.cr4 & (1ull << 16), 1ull << 16); /* FSGSBASE */
    assert_int_equal(s.cr4 & (1ull << 18), 1ull << 18); /* OSXSAVE */
    assert_int_equal(s.apic_base, 0xfee00900);          /* left alone */
    free(c);
}

static void test_vcpu_sregs_each_vcpu_its_tss(void **state)
{
    (void)state;
    struct boot_params p = params();
    p.vcpus = 5;
    struct kvm_cpuid2 *c = full_cpuid();
    for (uint32_t i = 0; i < p.vcpus; i++) {
        struct kvm_sregs s;
        memset(&s, 0, sizeof s);
        boot_vcpu_sregs(&p, i, c, &s);
        check_long_mode(&s, i, p.vcpus);
    }
    free(c);
}

static void test_vcpu_sregs_cpl0(void **state)
{
    (void)state;
    struct boot_params p = params();
    p.flags |= VIGIL_BOOT_F_CPL0;
    struct kvm_cpuid2 *c = full_cpuid();
    struct kvm_sregs s;
    memset(&s, 0, sizeof s);
    boot_vcpu_sregs(&p, 0, c, &s);
    check_segment(&s.cs, SEL_KERNEL_CS, 0, true);
    check_segment(&s.ss, SEL_KERNEL_DS, 0, false);
    check_segment(&s.ds, SEL_KERNEL_DS, 0, false);
    check_long_mode(&s, 0, p.vcpus);
    free(c);
}

static void test_vcpu_sregs_minimal_cpu(void **state)
{
    (void)state;
    struct boot_params p = params();
    /* Leaf 7 exists only for subleaf 1, and leaf 1 has no XSAVE. */
    struct kvm_cpuid2 *c = make_cpuid(2);
    c->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = 0};
    c->entries[1] = (struct kvm_cpuid_entry2){
        .function = 7, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .ebx = 1};
    struct kvm_sregs s;
    memset(&s, 0, sizeof s);
    boot_vcpu_sregs(&p, 0, c, &s);
    check_long_mode(&s, 0, p.vcpus);
    assert_int_equal(s.cr4 & (1ull << 16), 0);
    assert_int_equal(s.cr4 & (1ull << 18), 0);
    assert_int_equal(boot_xcr0(c), 0);
    free(c);

    c = make_cpuid(0);
    memset(&s, 0, sizeof s);
    boot_vcpu_sregs(&p, 0, c, &s);
    check_long_mode(&s, 0, p.vcpus);
    assert_int_equal(s.cr4 & ((1ull << 16) | (1ull << 18)), 0);
    free(c);
}

static void test_xcr0_and_cpuid_find(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = full_cpuid();
    assert_int_equal(boot_xcr0(c), 0x7); /* x87, SSE, AVX; not PKRU */
    c->entries[3].eax = 0xff;
    assert_int_equal(boot_xcr0(c), 0xe7); /* AVX-512 too; not MPX (bits 3, 4) */
    c->entries[3].eax = 0x2;
    assert_int_equal(boot_xcr0(c), 0x3); /* x87 always */

    /* cpuid_find honours the significant-index flag. */
    assert_ptr_equal(cpuid_find(c, 7, 0), &c->entries[2]);
    assert_null(cpuid_find(c, 7, 1));
    assert_ptr_equal(cpuid_find(c, 1, 5), &c->entries[1]); /* index ignored */
    assert_null(cpuid_find(c, 0x80000001, 0));
    c->entries[1].ecx = 0; /* no XSAVE */
    assert_int_equal(boot_xcr0(c), 0);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_tables, setup, teardown),
        cmocka_unit_test(test_page_tables_multi_gib),
        cmocka_unit_test_setup_teardown(test_gdt_tss, setup, teardown),
        cmocka_unit_test(test_ist_stacks_apart),
        cmocka_unit_test(test_idt_gate_encoding),
        cmocka_unit_test_setup_teardown(test_idt_armed_and_disarmed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_too_many_vcpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_map_gap_below_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_right_below_stacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_bad_mem_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_no_room_for_stacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmdline_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cmdline_or_name, setup, teardown),
        cmocka_unit_test(test_vcpu_regs),
        cmocka_unit_test(test_vcpu_sregs_cpl3),
        cmocka_unit_test(test_vcpu_sregs_each_vcpu_its_tss),
        cmocka_unit_test(test_vcpu_sregs_cpl0),
        cmocka_unit_test(test_vcpu_sregs_minimal_cpu),
        cmocka_unit_test(test_xcr0_and_cpuid_find),
        cmocka_unit_test_setup_teardown(test_device_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_window_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
