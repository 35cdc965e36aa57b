/* mptable.c: the MultiProcessor Specification 1.4 table: processors, bus, I/O APIC, interrupts. */
#include "x86/mptable.h"

#include <stdio.h>
#include <string.h>

#define MP_SPEC_REV    4
#define LAPIC_VERSION  0x14
#define IOAPIC_VERSION 0x11
#define CPU_ENABLED    0x1
#define CPU_BSP        0x2
#define INT_TYPE_INT   0
#define INT_TYPE_NMI   1
#define INT_TYPE_EXT   3
#define ENTRY_CPU      0
#define ENTRY_BUS      1
#define ENTRY_IOAPIC   2
#define ENTRY_IOINT    3
#define ENTRY_LINT     4
#define HEADER_SIZE    44
#define ISA_BUS_ID     0

static void put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The byte that makes p[0..len) sum to zero. */
static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

/* An 8-byte interrupt assignment entry (I/O or local). */
static uint8_t *interrupt(uint8_t *e, unsigned entry, unsigned type, unsigned bus, unsigned irq,
                          unsigned dest, unsigned pin)
{
    e[0] = (uint8_t)entry;
    e[1] = (uint8_t)type;
    put(e + 2, 0, 2); /* polarity and trigger as the bus defines them */
    e[4] = (uint8_t)bus;
    e[5] = (uint8_t)irq;
    e[6] = (uint8_t)dest;
    e[7] = (uint8_t)pin;
    return e + 8;
}

int mptable_write(uint8_t *mem, uint64_t mem_size, uint64_t gpa, uint32_t ncpus, char *err,
                  size_t errlen)
{
    if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS) {
        snprintf(err, errlen, "MP table: %u processors, 1 to %u are supported", ncpus,
                 MPTABLE_MAX_CPUS);
        return -1;
    }
    if (gpa > mem_size || mem_size - gpa < MPTABLE_MAX_SIZE || gpa + 16 > UINT32_MAX) {
        snprintf(err, errlen, "MP table: 0x%llx is not inside RAM", (unsigned long long)gpa);
        return -1;
    }
    uint8_t *fp = mem + gpa, *table = fp + 16;
    memset(fp, 0, MPTABLE_MAX_SIZE);
    uint8_t *e = table + HEADER_SIZE;
    unsigned entries = 0;
    for (uint32_t i = 0; i < ncpus; i++, entries++) {
        e[0] = ENTRY_CPU;
        e[1] = (uint8_t)i; /* APIC ID: KVM gives vCPU i APIC ID i */
        e[2] = LAPIC_VERSION;
        e[3] = CPU_ENABLED | (i == 0 ? CPU_BSP : 0);
        put(e + 4, 0x600, 4); /* family 6: only the APIC IDs matter to Linux */
        put(e + 8, 0x201, 4); /* FPU, APIC */
        e += 20;
    }
    e[0] = ENTRY_BUS;
    e[1] = ISA_BUS_ID;
    memcpy(e + 2, "ISA   ", 6);
    e += 8, entries++;
    unsigned ioapic = ncpus;
    e[0] = ENTRY_IOAPIC;
    e[1] = (uint8_t)ioapic;
    e[2] = IOAPIC_VERSION;
    e[3] = 1; /* enabled */
    put(e + 4, MPTABLE_IOAPIC_GPA, 4);
    e += 8, entries++;
    for (unsigned irq = 0; irq < MPTABLE_ISA_IRQS; irq++, entries++)
        e = interrupt(e, ENTRY_IOINT, INT_TYPE_INT, ISA_BUS_ID, irq, ioapic, irq);
    e = interrupt(e, ENTRY_LINT, INT_TYPE_EXT, ISA_BUS_ID, 0, 0xff, 0); /* every LAPIC's LINT0 */
    e = interrupt(e, ENTRY_LINT, INT_TYPE_NMI, ISA_BUS_ID, 0, 0xff, 1); /* and LINT1 */
    entries += 2;
    size_t len = (size_t)(e - table);

    memcpy(table, "PCMP", 4);
    put(table + 4, len, 2);
    table[6] = MP_SPEC_REV;
    memcpy(table + 8, "VIGIL   ", 8);
    memcpy(table + 16, "HV          ", 12);
    put(table + 34, entries, 2);
    put(table + 36, MPTABLE_LAPIC_GPA, 4);
    table[7] = checksum(table, len);

    memcpy(fp, "_MP_", 4);
    put(fp + 4, gpa + 16, 4);
    fp[8] = 1; /* length in 16-byte units */
    fp[9] = MP_SPEC_REV;
    fp[10] = checksum(fp, 16);
    return (int)(16 + len);
}
