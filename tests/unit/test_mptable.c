/* test_mptable.c: the MP table Linux reads: valid checksums, one entry per vCPU, the I/O APIC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86/mptable.h"

#define MEM  0x100000u
#define BASE 0x9fc00u

static uint64_t get(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void test_table_for_n_cpus(void **state)
{
    (void)state;
    uint8_t *mem = calloc(1, MEM);
    char err[128];
    for (uint32_t n = 1; n <= MPTABLE_MAX_CPUS; n += 7) {
        int len = mptable_write(mem, MEM, BASE, n, err, sizeof err);
        assert_true(len > 16 && len <= (int)MPTABLE_MAX_SIZE);
        const uint8_t *fp = mem + BASE;
        assert_memory_equal(fp, "_MP_", 4);
        assert_int_equal(sum(fp, 16), 0);
        uint32_t at = (uint32_t)get(fp + 4, 4);
        assert_int_equal(at, BASE + 16);
        const uint8_t *t = mem + at;
        assert_memory_equal(t, "PCMP", 4);
        size_t tlen = get(t + 4, 2);
        assert_int_equal(16 + tlen, (size_t)len);
        assert_int_equal(sum(t, tlen), 0);
        assert_int_equal(get(t + 36, 4), MPTABLE_LAPIC_GPA);
        /* Walk the entries: n processors (the first the BSP), one I/O APIC with ID n. */
        unsigned count = (unsigned)get(t + 34, 2), cpus = 0, ioapics = 0, ioints = 0;
        const uint8_t *e = t + 44;
        for (unsigned i = 0; i < count; i++) {
            switch (e[0]) {
            case 0:
                assert_int_equal(e[1], cpus);
                assert_int_equal(e[3] & 2, cpus == 0 ? 2 : 0);
                cpus++;
                e += 20;
                break;
            case 2:
                assert_int_equal(e[1], n);
                assert_int_equal(get(e + 4, 4), MPTABLE_IOAPIC_GPA);
                ioapics++;
                e += 8;
                break;
            case 3:
                assert_int_equal(e[5], e[7]); /* ISA IRQ i on pin i */
                ioints++;
                e += 8;
                break;
            default:
                e += 8;
                break;
            }
        }
        assert_int_equal((size_t)(e - t), tlen);
        assert_int_equal(cpus, n);
        assert_int_equal(ioapics, 1);
        assert_int_equal(ioints, MPTABLE_ISA_IRQS);
    }
    free(mem);
}

static void test_refuses_bad_arguments(void **state)
{
    (void)state;
    uint8_t *mem = calloc(1, MEM);
    char err[128];
    assert_int_equal(mptable_write(mem, MEM, BASE, 0, err, sizeof err), -1);
    assert_int_equal(mptable_write(mem, MEM, BASE, MPTABLE_MAX_CPUS + 1, err, sizeof err), -1);
    assert_int_equal(mptable_write(mem, MEM, MEM - 100, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "not inside RAM"));
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_for_n_cpus),
        cmocka_unit_test(test_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
