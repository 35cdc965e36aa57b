/* test_linux_cpuid.c: the CPUID a Linux VM's vCPUs get on top of what KVM supports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vmm/vm_linux.h"
#include "x86/x86_boot.h"

#include <stdlib.h>

#define TSC_DEADLINE (1u << 24)
#define XSAVE        (1u << 26)
#define HYPERVISOR   (1u << 31)

/* Leaves 1 and 0xb as KVM_GET_SUPPORTED_CPUID could give them: XSAVE on, no TSC-deadline
 * (KVM leaves that bit to user space). */
static struct kvm_cpuid2 *supported(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + 2 * sizeof(struct kvm_cpuid_entry2));
    assert_non_null(c);
    c->nent = 2;
    c->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = XSAVE | 1u};
    c->entries[1] = (struct kvm_cpuid_entry2){.function = 0xb, .edx = 0};
    return c;
}

static void test_tsc_deadline_only_where_the_lapic_has_it(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = supported();
    vm_linux_cpuid(c, 3, true);
    uint32_t ecx = cpuid_find(c, 1, 0)->ecx;
    assert_true(ecx & TSC_DEADLINE);
    assert_true(ecx & HYPERVISOR);
    assert_false(ecx & XSAVE);
    assert_true(ecx & 1u); /* the rest of what KVM offers stays */
    assert_int_equal(cpuid_find(c, 0xb, 0)->edx, 3);
    free(c);

    c = supported();
    vm_linux_cpuid(c, 0, false);
    assert_false(cpuid_find(c, 1, 0)->ecx & TSC_DEADLINE);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsc_deadline_only_where_the_lapic_has_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
