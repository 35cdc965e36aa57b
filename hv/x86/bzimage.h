/* bzimage.h: the x86 Linux boot protocol: checks a bzImage and lays out a 64-bit Linux boot. */
#ifndef HV_BZIMAGE_H
#define HV_BZIMAGE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* Guest-physical layout of a Linux VM's low memory (hv's structures, reserved in the e820
 * map), as kvmtool and Firecracker place them. */
#define BZ_GDT_GPA       0x1000ull
#define BZ_ZERO_PAGE_GPA 0x7000ull /* struct boot_params, the "zero page" */
#define BZ_PML4_GPA      0x9000ull
#define BZ_PDPT_GPA      0xa000ull
#define BZ_PD_GPA        0xb000ull   /* 4 page directories: 4 GiB of 2 MiB pages, to 0xf000 */
#define BZ_CMDLINE_GPA   0x10000ull  /* to 0x11000 */
#define BZ_LOW_END       0x11000ull  /* end of hv's structures */
#define BZ_EBDA_GPA      0x9fc00ull  /* the MP table; reserved up to 1 MiB */
#define BZ_KERNEL_GPA    0x100000ull /* the protected-mode kernel loads at 1 MiB */
#define BZ_CMDLINE_MAX   4095u
/* RAM is one memslot from 0, so it must end below the 32-bit MMIO hole (IOAPIC, LAPIC). */
#define BZ_MAX_MEM (3ull << 30)

/* Boot selectors the 64-bit entry needs (Documentation/arch/x86/boot.rst). */
#define BZ_BOOT_CS 0x10
#define BZ_BOOT_DS 0x18
#define BZ_BOOT_TR 0x20

/* What the setup header says, and where everything goes. */
struct bz_image {
    uint16_t version;    /* boot protocol, e.g. 0x020f for 2.15 */
    uint32_t setup_size; /* real-mode setup code in the file: (setup_sects + 1) * 512 */
    uint64_t kernel_len; /* protected-mode kernel bytes copied to BZ_KERNEL_GPA */
    uint64_t entry;      /* the 64-bit entry point: BZ_KERNEL_GPA + 0x200 */
    uint64_t init_size;  /* memory the kernel needs to decompress and start */
    uint64_t run_start;  /* where it will decompress: max(aligned load, pref_address) */
    uint64_t run_end;    /* run_start + init_size */
    uint64_t initrd_gpa; /* 0 without an initrd */
    uint64_t initrd_len;
    uint32_t cmdline_max; /* the longest command line the kernel accepts */
};

/* Checks the bzImage `file` for a VM with mem_size bytes of RAM, an initrd of initrd_len
 * bytes (0: none) and a command line of cmdline_len bytes, without touching guest memory:
 * the HdrS magic, boot protocol >= 2.12 with XLF_KERNEL_64, setup_sects and syssize inside
 * the file, init_size, alignment, the kernel and its decompression area inside RAM, the
 * initrd placed as high as initrd_addr_max and RAM allow, above the kernel.  Every sum is
 * overflow-checked.  Returns 0, or -1 with a message naming the problem in err. */
int bz_check(const uint8_t *file, size_t file_len, uint64_t mem_size, uint64_t initrd_len,
             size_t cmdline_len, struct bz_image *out, char *err, size_t errlen);

/* bz_check, then writes the boot: the protected-mode kernel at 1 MiB, the initrd, the zero
 * page (setup header, e820 map, command line, initrd), the boot GDT and identity page tables
 * covering RAM.  mem is guest RAM (guest-physical 0). */
int bz_load(const uint8_t *file, size_t file_len, const uint8_t *initrd, size_t initrd_len,
            const char *cmdline, uint8_t *mem, uint64_t mem_size, struct bz_image *out, char *err,
            size_t errlen);

/* The boot vCPU's registers at the 64-bit entry: rip = entry, rsi = the zero page, IF clear. */
void bz_vcpu_regs(const struct bz_image *img, struct kvm_regs *regs);
/* Adjusts sregs (from KVM_GET_SREGS) for the 64-bit entry: long mode, paging on with the
 * identity tables, CPL 0 with __BOOT_CS/__BOOT_DS flat segments and the boot GDT. */
void bz_vcpu_sregs(struct kvm_sregs *sregs);

/* e820 entry types (the zero page's table). */
#define BZ_E820_RAM      1u
#define BZ_E820_RESERVED 2u
struct bz_e820 {
    uint64_t addr, size;
    uint32_t type;
};
/* The e820 map of a Linux VM with mem_size bytes of RAM: usable RAM, hv's structures and the
 * EBDA/BIOS area reserved.  Returns the number of entries (at most max). */
uint32_t bz_e820_map(uint64_t mem_size, struct bz_e820 *out, uint32_t max);

#endif
