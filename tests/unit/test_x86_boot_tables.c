/* test_x86_boot_tables: boot_write_tables' page tables, GDT and per-vCPU TSSes, IST stacks, IDT. */
#include "x86_boot_fixture.h"

#include <sys/mman.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
