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
#define BOOT_GDT_GPA     0x1000ull
#define BOOT_TSS_GPA     0x7000ull /* TSS + a full, all-zero I/O bitmap: to 0x9069 */
#define BOOT_INFO_GPA    0x2000ull
#define BOOT_CMDLINE_GPA 0x3000ull
#define BOOT_PML4_GPA    0x4000ull
#define BOOT_PDPT_GPA    0x5000ull
#define BOOT_PT0_GPA     0x6000ull  /* 4 KiB pages for the first 2 MiB, page 0 absent */
#define BOOT_PD_GPA      0x10000ull /* one page directory per GiB */
#define BOOT_MAX_MEM     (64ull << 30)
#define BOOT_MIN_MEM     (4ull << 20)
#define BOOT_STACK_SIZE  (256ull << 10)

#define SEL_KERNEL_CS 0x08
#define SEL_KERNEL_DS 0x10
#define SEL_USER_DS   0x23
#define SEL_USER_CS   0x2b
#define SEL_TSS       0x30

struct boot_params {
    uint64_t mem_size;
    uint32_t vcpus;
    uint32_t flags; /* VIGIL_BOOT_F_* */
    uint64_t image_start, image_end, entry;
    uint64_t tsc_hz;
    const char *cmdline;
    const char *name;
};

/* Writes page tables, GDT, TSS, command line and boot info into guest
 * memory.  Returns 0 or -1 with a message in err. */
int boot_write_tables(uint8_t *mem, const struct boot_params *p, char *err, size_t errlen);

/* The starting register state of vCPU `index`. */
void boot_vcpu_regs(const struct boot_params *p, uint32_t index, struct kvm_regs *regs);
/* Adjusts `sregs` (from KVM_GET_SREGS) for a long-mode start at CPL 3
 * (or CPL 0 with VIGIL_BOOT_F_CPL0). cpuid says which CR4 features exist. */
void boot_vcpu_sregs(const struct boot_params *p, const struct kvm_cpuid2 *cpuid,
                     struct kvm_sregs *sregs);
/* The XCR0 value to start with (0 when the CPU has no XSAVE). */
uint64_t boot_xcr0(const struct kvm_cpuid2 *cpuid);
/* Looks up a CPUID leaf in a KVM CPUID table; NULL if absent. */
struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *cpuid, uint32_t fn, uint32_t index);

#endif
