/* test_x86_boot_vcpu: vCPU registers and long-mode sregs at boot, XCR0 and CPUID lookup. */
#include "x86_boot_fixture.h"

#include <stdbool.h>

#define RFLAGS_IF   (1ull << 9)
#define RFLAGS_IOPL (3ull << 12)

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
        cmocka_unit_test(test_vcpu_regs),
        cmocka_unit_test(test_vcpu_sregs_cpl3),
        cmocka_unit_test(test_vcpu_sregs_each_vcpu_its_tss),
        cmocka_unit_test(test_vcpu_sregs_cpl0),
        cmocka_unit_test(test_vcpu_sregs_minimal_cpu),
        cmocka_unit_test(test_xcr0_and_cpuid_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
