/* bzimage_int.h: setup header offsets and the parts of the bzImage loader shared by its files. */
#ifndef HV_BZIMAGE_INT_H
#define HV_BZIMAGE_INT_H

#include "x86/bzimage.h"

/* Offsets in the bzImage file, which are also their offsets in struct boot_params (the setup
 * header sits at 0x1f1 in both). */
#define BZ_HDR_SETUP_SECTS  0x1f1
#define BZ_HDR_SYSSIZE      0x1f4
#define BZ_HDR_VID_MODE     0x1fa
#define BZ_HDR_JUMP         0x200 /* its second byte: the header's length after 0x202 */
#define BZ_HDR_MAGIC        0x202
#define BZ_HDR_VERSION      0x206
#define BZ_HDR_TYPE_LOADER  0x210
#define BZ_HDR_LOADFLAGS    0x211
#define BZ_HDR_RAMDISK      0x218
#define BZ_HDR_RAMDISK_SIZE 0x21c
#define BZ_HDR_HEAP_END     0x224
#define BZ_HDR_CMDLINE_PTR  0x228
#define BZ_HDR_INITRD_MAX   0x22c
#define BZ_HDR_KERNEL_ALIGN 0x230
#define BZ_HDR_RELOCATABLE  0x234
#define BZ_HDR_XLOADFLAGS   0x236
#define BZ_HDR_CMDLINE_SIZE 0x238
#define BZ_HDR_PREF_ADDRESS 0x258
#define BZ_HDR_INIT_SIZE    0x260
#define BZ_HDR_MIN_LEN      0x264 /* through init_size: protocol 2.10 and later */
#define BZ_HDR_END_MAX      0x290 /* the header's room in struct boot_params */

/* struct boot_params outside the setup header. */
#define BZ_BP_E820_ENTRIES 0x1e8
#define BZ_BP_E820_TABLE   0x2d0
#define BZ_BP_E820_MAX     128

#define BZ_MAGIC_HDRS    0x53726448u /* "HdrS" */
#define BZ_XLF_KERNEL_64 0x1u
#define BZ_LOADED_HIGH   0x01u
#define BZ_CAN_USE_HEAP  0x80u

/* A little-endian field of `bytes` (1, 2 or 4) bytes. */
uint32_t bz_le(const uint8_t *p, unsigned bytes);
/* The zero page at BZ_ZERO_PAGE_GPA: the file's setup header, what the loader fills in, the
 * e820 map. */
void bz_write_zero_page(const uint8_t *file, const struct bz_image *img, uint8_t *mem,
                        uint64_t mem_size);
/* The boot GDT and the identity page tables over RAM (2 MiB pages). */
void bz_write_boot_tables(uint8_t *mem, uint64_t mem_size);

#endif
