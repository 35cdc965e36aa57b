/* x86_boot.h: the guest's starting machine state: long-mode page tables, GDT, TSS, boot info,
 * CPUID. */
#ifndef HV_X86_BOOT_H
#define HV_X86_BOOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/hypercall.h>

/* Guest-physical layout of hv's boot structures (all below 1 MiB). */
#define BOOT_GDT_GPA      0x1000ull
#define BOOT_INFO_GPA     0x2000ull
#define BOOT_CMDLINE_GPA  0x3000ull
#define BOOT_PML4_GPA     0x4000ull
#define BOOT_PDPT_GPA     0x5000ull
#define BOOT_PT0_GPA      0x6000ull /* 4 KiB pages for the first 2 MiB, page 0 absent */
#define BOOT_TSS_GPA      0x7000ull /* vCPU i's 64-bit TSS at BOOT_TSS_GPA + i * BOOT_TSS_STRIDE */
#define BOOT_TSS_STRIDE   0x80ull
#define BOOT_IOMAP_GPA    0x8000ull  /* the I/O bitmap every TSS shares: to the 0xff at 0xa000 */
#define BOOT_IDT_GPA      0xb000ull  /* BOOT_IDT_VECTORS gates, absent until the guest asks */
#define BOOT_PD_GPA       0x10000ull /* one page directory per GiB: to 0x50000 */
#define BOOT_IST_GPA      0x50000ull /* BOOT_IST_PER_VCPU stacks per vCPU: to 0x90000 */
#define BOOT_IST_SIZE     0x1000ull
#define BOOT_IST_PER_VCPU 4u
#define BOOT_IDT_VECTORS  32u
#define BOOT_MAX_VCPUS    16u
#define BOOT_MAX_MEM      (64ull << 30)
#define BOOT_MIN_MEM      (4ull << 20)
#define BOOT_STACK_SIZE   (256ull << 10)

/* IST stack numbers (TSS.IST1..4): an NMI, #DF or #MC may strike while another
 * handler runs, so each gets a stack of its own. */
#define BOOT_IST_FAULT 1u
#define BOOT_IST_NMI   2u
#define BOOT_IST_DF    3u
#define BOOT_IST_MC    4u

#define SEL_KERNEL_CS 0x08
#define SEL_KERNEL_DS 0x10
#define SEL_USER_DS   0x23
#define SEL_USER_CS   0x2b
#define SEL_TSS       0x30 /* vCPU i's TSS descriptor: SEL_TSS + 16 * i */

struct boot_params {
    uint64_t mem_size;
    uint32_t vcpus;
    uint32_t flags; /* VIGIL_BOOT_F_* */
    uint64_t image_start, image_end, entry;
    uint64_t tsc_hz;
    const char *cmdline;
    const char *name;
    /* Device windows the boot info lists and the page tables map (outside RAM, below
     * BOOT_MAX_MEM). */
    uint32_t ndevices;
    struct vigil_boot_device devices[VIGIL_BOOT_DEV_MAX];
};

/* Writes page tables, GDT, one TSS per vCPU, an IDT without gates, command
 * line and boot info into guest memory; device windows are mapped uncached.
 * Returns 0 or -1 with a message in err. */
int boot_write_tables(uint8_t *mem, const struct boot_params *p, char *err, size_t errlen);

/* The top of vCPU `index`'s IST stack `ist` (BOOT_IST_*). */
uint64_t boot_ist_top(uint32_t index, unsigned ist);
/* The IST stack the gate of exception `vector` uses. */
unsigned boot_idt_ist(unsigned vector);
/* Encodes a 64-bit interrupt gate: present unless entry is 0. */
void boot_idt_gate(uint8_t gate[16], uint64_t entry, uint16_t cs, unsigned ist, unsigned dpl);
/* Fills the IDT's BOOT_IDT_VECTORS gates from entries (one code address per
 * vector, 0 for none) or, with entries NULL, empties it.  Each gate's present
 * half is written last when filling and first when emptying, so a vCPU taking
 * an exception meanwhile sees a whole gate or none. */
void boot_write_idt(uint8_t *mem, const struct boot_params *p, const uint64_t *entries);

/* The starting register state of vCPU `index`. */
void boot_vcpu_regs(const struct boot_params *p, uint32_t index, struct kvm_regs *regs);
/* Adjusts `sregs` (from KVM_GET_SREGS) of vCPU `index` for a long-mode start
 * at CPL 3 (or CPL 0 with VIGIL_BOOT_F_CPL0). cpuid says which CR4 features
 * exist. */
void boot_vcpu_sregs(const struct boot_params *p, uint32_t index, const struct kvm_cpuid2 *cpuid,
                     struct kvm_sregs *sregs);
/* The XCR0 value to start with (0 when the CPU has no XSAVE). */
uint64_t boot_xcr0(const struct kvm_cpuid2 *cpuid);
/* Looks up a CPUID leaf in a KVM CPUID table; NULL if absent. */
struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *cpuid, uint32_t fn, uint32_t index);

#endif
