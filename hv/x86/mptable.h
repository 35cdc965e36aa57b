/* mptable.h: an Intel MultiProcessor table, how a Linux guest finds its vCPUs and I/O APIC. */
#ifndef HV_MPTABLE_H
#define HV_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_CPUS   32u
#define MPTABLE_IOAPIC_GPA 0xfec00000u /* KVM's in-kernel I/O APIC */
#define MPTABLE_LAPIC_GPA  0xfee00000u
#define MPTABLE_ISA_IRQS   16u
/* The floating pointer and the table it points at: at most this many bytes. */
#define MPTABLE_MAX_SIZE 1024u

/* Writes the floating pointer at `gpa` and the configuration table right after it: ncpus
 * processors (APIC IDs 0..ncpus-1, the first the boot processor), an ISA bus, the I/O APIC
 * (ID ncpus) with ISA IRQ i on its pin i as KVM's default routing has it, ExtINT on LINT0 and
 * NMI on LINT1.  [gpa, gpa + MPTABLE_MAX_SIZE) must lie inside mem (mem_size bytes).
 * Returns the bytes written, or -1 with a message in err. */
int mptable_write(uint8_t *mem, uint64_t mem_size, uint64_t gpa, uint32_t ncpus, char *err,
                  size_t errlen);

#endif
