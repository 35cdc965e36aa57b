/* bzimage_boot.c: what a 64-bit Linux entry finds: the zero page, e820 map, GDT, page tables. */
#include "x86/bzimage_int.h"

#include <string.h>

static void put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t bz_e820_map(uint64_t mem_size, struct bz_e820 *out, uint32_t max)
{
    /* Page 0 is left usable (Linux reserves it itself); hv's structures and the EBDA with the
     * MP table to the end of the BIOS area are reserved. */
    const struct bz_e820 map[] = {
        {0, 0x1000, BZ_E820_RAM},
        {0x1000, BZ_LOW_END - 0x1000, BZ_E820_RESERVED},
        {BZ_LOW_END, BZ_EBDA_GPA - BZ_LOW_END, BZ_E820_RAM},
        {BZ_EBDA_GPA, BZ_KERNEL_GPA - BZ_EBDA_GPA, BZ_E820_RESERVED},
        {BZ_KERNEL_GPA, mem_size - BZ_KERNEL_GPA, BZ_E820_RAM},
    };
    uint32_t n = 0;
    for (uint32_t i = 0; i < sizeof map / sizeof map[0] && n < max; i++)
        out[n++] = map[i];
    return n;
}

void bz_write_zero_page(const uint8_t *file, const struct bz_image *img, uint8_t *mem,
                        uint64_t mem_size)
{
    uint8_t *bp = mem + BZ_ZERO_PAGE_GPA;
    memset(bp, 0, 4096);
    /* The setup header as the file has it (its length is in the jump's second byte), so the
     * kernel reads back its own fields; then what a boot loader fills in. */
    size_t end = BZ_HDR_MAGIC + file[BZ_HDR_JUMP + 1];
    if (end > BZ_HDR_END_MAX)
        end = BZ_HDR_END_MAX;
    if (end < BZ_HDR_MIN_LEN)
        end = BZ_HDR_MIN_LEN;
    memcpy(bp + BZ_HDR_SETUP_SECTS, file + BZ_HDR_SETUP_SECTS, end - BZ_HDR_SETUP_SECTS);
    bp[BZ_HDR_TYPE_LOADER] = 0xff; /* no registered loader ID */
    bp[BZ_HDR_LOADFLAGS] |= BZ_CAN_USE_HEAP;
    put(bp + BZ_HDR_HEAP_END, 0xfe00, 2);
    put(bp + BZ_HDR_VID_MODE, 0xffff, 2); /* "normal" */
    put(bp + BZ_HDR_CMDLINE_PTR, BZ_CMDLINE_GPA, 4);
    put(bp + BZ_HDR_RAMDISK, img->initrd_gpa, 4);
    put(bp + BZ_HDR_RAMDISK_SIZE, img->initrd_len, 4);
    struct bz_e820 map[8];
    uint32_t n = bz_e820_map(mem_size, map, 8);
    bp[BZ_BP_E820_ENTRIES] = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = bp + BZ_BP_E820_TABLE + 20 * i;
        put(e, map[i].addr, 8);
        put(e + 8, map[i].size, 8);
        put(e + 16, map[i].type, 4);
    }
}

void bz_write_boot_tables(uint8_t *mem, uint64_t mem_size)
{
    (void)mem_size; /* the first 4 GiB are mapped: all of RAM (BZ_MAX_MEM) and the MMIO above */
    /* Null, null, __BOOT_CS (64-bit code), __BOOT_DS (flat data), a 64-bit TSS for TR. */
    const uint64_t gdt[] = {
        0, 0, 0x00af9b000000ffffull, 0x00cf93000000ffffull, 0x00008b0000000067ull, 0};
    memcpy(mem + BZ_GDT_GPA, gdt, sizeof gdt);
    memset(mem + BZ_PML4_GPA, 0, 0x6000);
    put(mem + BZ_PML4_GPA, BZ_PDPT_GPA | 0x3, 8); /* present, writable */
    for (uint64_t g = 0; g < 4; g++) {
        put(mem + BZ_PDPT_GPA + 8 * g, (BZ_PD_GPA + 0x1000 * g) | 0x3, 8);
        for (uint64_t i = 0; i < 512; i++)
            put(mem + BZ_PD_GPA + 0x1000 * g + 8 * i, ((g << 30) | (i << 21)) | 0x83, 8);
    }
}

void bz_vcpu_regs(const struct bz_image *img, struct kvm_regs *regs)
{
    memset(regs, 0, sizeof *regs);
    regs->rflags = 0x2; /* interrupts off */
    regs->rip = img->entry;
    regs->rsi = BZ_ZERO_PAGE_GPA;
}

void bz_vcpu_sregs(struct kvm_sregs *s)
{
    const struct kvm_segment code = {.base = 0,
                                     .limit = 0xffffffff,
                                     .selector = BZ_BOOT_CS,
                                     .type = 0xb,
                                     .present = 1,
                                     .s = 1,
                                     .l = 1,
                                     .g = 1};
    const struct kvm_segment data = {.base = 0,
                                     .limit = 0xffffffff,
                                     .selector = BZ_BOOT_DS,
                                     .type = 0x3,
                                     .present = 1,
                                     .db = 1,
                                     .s = 1,
                                     .g = 1};
    s->cs = code;
    s->ds = s->es = s->fs = s->gs = s->ss = data;
    s->tr = (struct kvm_segment){
        .base = 0, .limit = 0x67, .selector = BZ_BOOT_TR, .type = 0xb, .present = 1};
    s->gdt.base = BZ_GDT_GPA;
    s->gdt.limit = 6 * 8 - 1;
    s->idt.base = 0;
    s->idt.limit = 0;
    s->cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE; caches on */
    s->cr3 = BZ_PML4_GPA;
    s->cr4 = 0x20;   /* PAE */
    s->efer = 0x500; /* LME, LMA */
}
