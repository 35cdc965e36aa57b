/* test_fault.c: fault report checks, vector names, the reset-state detector, SEL wording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "x86/fault.h"
#include "x86/x86_boot.h"

/* What the demo guest's stub reports for a ud2 at CPL 3. */
static struct vigil_fault_frame good_frame(void)
{
    return (struct vigil_fault_frame){.rax = 1,
                                      .rbx = 2,
                                      .rcx = 3,
                                      .rdx = 4,
                                      .rsi = 5,
                                      .rdi = 6,
                                      .rbp = 7,
                                      .r8 = 8,
                                      .r15 = 15,
                                      .vector = 6,
                                      .error_code = 0,
                                      .rip = 0x10011a,
                                      .cs = SEL_USER_CS,
                                      .rflags = 0x3002,
                                      .rsp = 0xffffe90,
                                      .ss = SEL_USER_DS};
}

static void test_good_frames_pass(void **state)
{
    (void)state;
    char why[128] = "";
    struct vigil_fault_frame f = good_frame();
    assert_int_equal(fault_frame_check(&f, SEL_USER_CS, why, sizeof why), 0);
    /* #PF with its error code; a kernel-half rsp is canonical too. */
    f.vector = 14;
    f.error_code = 6;
    f.rsp = 0xffff800000001000ull;
    assert_int_equal(fault_frame_check(&f, SEL_USER_CS, why, sizeof why), 0);
    /* At CPL 0, with the null SS long mode allows there. */
    f = good_frame();
    f.cs = SEL_KERNEL_CS;
    f.ss = 0;
    assert_int_equal(fault_frame_check(&f, SEL_KERNEL_CS, why, sizeof why), 0);
    /* NMI, IF and AC set in the interrupted flags. */
    f = good_frame();
    f.vector = 2;
    f.rflags = 0x43202;
    assert_int_equal(fault_frame_check(&f, SEL_USER_CS, why, sizeof why), 0);
}

static void expect_refused(const struct vigil_fault_frame *f, uint16_t cs, const char *reason)
{
    char why[128] = "";
    assert_int_equal(fault_frame_check(f, cs, why, sizeof why), -1);
    if (!strstr(why, reason))
        fail_msg("expected '%s' in '%s'", reason, why);
}

static void test_bad_frames_are_refused(void **state)
{
    (void)state;
    struct vigil_fault_frame f = good_frame();
    f.vector = 32;
    expect_refused(&f, SEL_USER_CS, "vector 32 is not an exception");
    f = good_frame();
    f.vector = UINT64_MAX;
    expect_refused(&f, SEL_USER_CS, "is not an exception");
    /* A frame claiming kernel mode from a CPL 3 handler. */
    f = good_frame();
    f.cs = SEL_KERNEL_CS;
    expect_refused(&f, SEL_USER_CS, "cs 0x8 is not the VM's code segment 0x2b");
    f = good_frame();
    f.ss = SEL_KERNEL_DS;
    expect_refused(&f, SEL_USER_CS, "ss 0x10 does not belong to CPL 3");
    f = good_frame();
    f.ss = 0x10023;
    expect_refused(&f, SEL_USER_CS, "does not belong");
    f = good_frame();
    f.rip = 0x0000800000000000ull;
    expect_refused(&f, SEL_USER_CS, "not canonical");
    f = good_frame();
    f.rsp = 0x1234567800000000ull;
    expect_refused(&f, SEL_USER_CS, "not canonical");
    static const uint64_t bad_flags[] = {
        0x3000,           /* bit 1 clear */
        0x3002 | 1u << 3, /* reserved */
        0x3002 | 1u << 5,
        0x3002 | 1u << 15,
        0x3002 | 1ull << 17, /* virtual-8086: impossible in long mode */
        0x3002 | 1ull << 22,
        0x3002 | 1ull << 63,
    };
    for (size_t i = 0; i < sizeof bad_flags / sizeof bad_flags[0]; i++) {
        f = good_frame();
        f.rflags = bad_flags[i];
        expect_refused(&f, SEL_USER_CS, "impossible in long mode");
    }
    f = good_frame();
    f.error_code = 1; /* #UD pushes none: the stub's placeholder is 0 */
    expect_refused(&f, SEL_USER_CS, "error code 0x1 is impossible for #UD");
    f = good_frame();
    f.vector = 13;
    f.error_code = 1ull << 32;
    expect_refused(&f, SEL_USER_CS, "impossible for #GP");
}

static void test_frame_regs(void **state)
{
    (void)state;
    struct vigil_fault_frame f = good_frame();
    f.r9 = 9;
    f.r10 = 10;
    f.r11 = 11;
    f.r12 = 12;
    f.r13 = 13;
    f.r14 = 14;
    struct kvm_regs r;
    memset(&r, 0xee, sizeof r);
    fault_frame_regs(&f, &r);
    const uint64_t want[] = {1, 2, 3, 4, 5, 6, 0xffffe90, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const uint64_t got[] = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp,
                            r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(got[i], want[i]);
    assert_int_equal(r.rip, 0x10011a);
    assert_int_equal(r.rflags, 0x3002);
}

/* The layout the stubs' pushes produce is the ABI: 15 registers, vector, error code, then
 * the CPU's frame; the PANIC header comes first. */
static void test_abi_layout(void **state)
{
    (void)state;
    assert_int_equal(offsetof(struct vigil_fault_frame, rax), 0);
    assert_int_equal(offsetof(struct vigil_fault_frame, r15), 14 * 8);
    assert_int_equal(offsetof(struct vigil_fault_frame, vector), 15 * 8);
    assert_int_equal(offsetof(struct vigil_fault_frame, error_code), 16 * 8);
    assert_int_equal(offsetof(struct vigil_fault_frame, rip), 17 * 8);
    assert_int_equal(offsetof(struct vigil_fault_frame, ss), 21 * 8);
    assert_int_equal(sizeof(struct vigil_fault_frame), 22 * 8);
    assert_int_equal(offsetof(struct vigil_hc_fault_report, frame), sizeof(struct vigil_hc_panic));
    assert_int_equal(sizeof(struct vigil_hc_fault_report) % 16, 0); /* keeps the stack aligned */
    assert_int_equal(VIGIL_PANIC_F_FAULT, 1ull << 63);
}

static void test_vector_names_and_error_codes(void **state)
{
    (void)state;
    assert_string_equal(fault_vector_name(0), "#DE");
    assert_string_equal(fault_vector_name(2), "NMI");
    assert_string_equal(fault_vector_name(6), "#UD");
    assert_string_equal(fault_vector_name(8), "#DF");
    assert_string_equal(fault_vector_name(13), "#GP");
    assert_string_equal(fault_vector_name(14), "#PF");
    assert_string_equal(fault_vector_name(18), "#MC");
    assert_string_equal(fault_vector_name(15), "#??");
    assert_string_equal(fault_vector_name(32), "#??");
    assert_string_equal(fault_vector_name(~0u), "#??");
    static const unsigned with[] = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30};
    unsigned n = 0;
    for (unsigned v = 0; v < 64; v++)
        n += fault_vector_has_error_code(v);
    assert_int_equal(n, sizeof with / sizeof with[0]);
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++)
        assert_true(fault_vector_has_error_code(with[i]));
}

static void test_entries_checked(void **state)
{
    (void)state;
    uint64_t e[VIGIL_FAULT_VECTORS] = {0};
    char why[128] = "";
    const uint64_t mem = 256ull << 20;
    assert_int_equal(fault_check_entries(e, VIGIL_FAULT_VECTORS, 0x100000, mem, why, sizeof why),
                     0);
    for (unsigned v = 0; v < VIGIL_FAULT_VECTORS; v++)
        e[v] = 0x100000 + 16 * v;
    assert_int_equal(fault_check_entries(e, VIGIL_FAULT_VECTORS, 0x100000, mem, why, sizeof why),
                     0);
    e[7] = 0xb000; /* hv's own IDT page */
    assert_int_equal(fault_check_entries(e, VIGIL_FAULT_VECTORS, 0x100000, mem, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "vector 7 (0xb000)"));
    e[7] = mem; /* one past RAM */
    assert_int_equal(fault_check_entries(e, VIGIL_FAULT_VECTORS, 0x100000, mem, why, sizeof why),
                     -1);
    e[7] = mem - 1;
    assert_int_equal(fault_check_entries(e, VIGIL_FAULT_VECTORS, 0x100000, mem, why, sizeof why),
                     0);
    e[31] = UINT64_MAX;
    assert_int_equal(fault_check_entries(e, VIGIL_FAULT_VECTORS, 0x100000, mem, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "vector 31"));
}

/* KVM's state after kvm_vcpu_reset(), as svm.c's shutdown_interception leaves it. */
static void reset_state(struct kvm_regs *r, struct kvm_sregs *s)
{
    memset(r, 0, sizeof *r);
    memset(s, 0, sizeof *s);
    r->rip = 0xfff0;
    r->rflags = 0x2;
    r->rdx = 0x00a00f11; /* the CPUID signature */
    s->cs = (struct kvm_segment){
        .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000, .type = 11, .present = 1, .s = 1};
    s->cr0 = 0x60000010;
}

static void test_reset_state_detected(void **state)
{
    (void)state;
    struct kvm_regs r;
    struct kvm_sregs s;
    reset_state(&r, &s);
    assert_true(fault_regs_look_reset(&r, &s));
    /* Any one difference and it is a state a guest could have been in. */
    reset_state(&r, &s);
    r.rip = 0xfff1;
    assert_false(fault_regs_look_reset(&r, &s));
    reset_state(&r, &s);
    s.cs.base = 0xf0000;
    assert_false(fault_regs_look_reset(&r, &s));
    reset_state(&r, &s);
    s.cs.selector = 0xf00b;
    assert_false(fault_regs_look_reset(&r, &s));
    reset_state(&r, &s);
    s.cr0 |= 1; /* protected mode */
    assert_false(fault_regs_look_reset(&r, &s));
    /* A Vigil guest that triple-faulted where VT-x or PVM leaves it. */
    memset(&r, 0, sizeof r);
    memset(&s, 0, sizeof s);
    r.rip = 0x1001c9;
    s.cs.selector = SEL_USER_CS;
    s.cr0 = 0x80050033;
    assert_false(fault_regs_look_reset(&r, &s));
}

static void test_describe(void **state)
{
    (void)state;
    char buf[160];
    struct fault_evidence e = {.reported = true, .vector = 6};
    e.regs.rip = 0x10011a;
    fault_describe(&e, buf, sizeof buf);
    assert_string_equal(buf, "exception #UD (vector 6) at rip 0x10011a");
    e = (struct fault_evidence){.reported = true, .vector = 14, .error_code = 6, .cr2 = 0xff8};
    e.regs.rip = 0x1000fd;
    fault_describe(&e, buf, sizeof buf);
    assert_string_equal(buf,
                        "exception #PF (vector 14) at rip 0x1000fd, error code 0x6, cr2 0xff8");
    e = (struct fault_evidence){.reported = true, .vector = 13, .error_code = 0x10};
    e.regs.rip = 0xffffffff81000000ull;
    fault_describe(&e, buf, sizeof buf);
    assert_string_equal(buf,
                        "exception #GP (vector 13) at rip 0xffffffff81000000, error code 0x10");
    /* Truncation stays a C string. */
    char small[20];
    e.vector = 14;
    fault_describe(&e, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_frames_pass),
        cmocka_unit_test(test_bad_frames_are_refused),
        cmocka_unit_test(test_frame_regs),
        cmocka_unit_test(test_abi_layout),
        cmocka_unit_test(test_vector_names_and_error_codes),
        cmocka_unit_test(test_entries_checked),
        cmocka_unit_test(test_reset_state_detected),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
