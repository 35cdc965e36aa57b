/* bzimage.c: checks a Linux bzImage's setup header and plans its load; refuses anything odd. */
#include "x86/bzimage.h"

#include "base/log.h"
#include "x86/bzimage_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

uint32_t bz_le(const uint8_t *p, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t le64(const uint8_t *p)
{
    return bz_le(p, 4) | (uint64_t)bz_le(p + 4, 4) << 32;
}

static int check_header(const uint8_t *f, size_t len, struct bz_image *o, char *err, size_t errlen)
{
    if (len < BZ_HDR_MIN_LEN)
        return hv_fail(err, errlen, "truncated: %zu bytes is shorter than a bzImage setup header",
                       len);
    if (bz_le(f + BZ_HDR_MAGIC, 4) != BZ_MAGIC_HDRS)
        return hv_fail(err, errlen, "not a Linux bzImage: no \"HdrS\" magic at offset 0x%x",
                       BZ_HDR_MAGIC);
    o->version = (uint16_t)bz_le(f + BZ_HDR_VERSION, 2);
    if (o->version < 0x020c)
        return hv_fail(err, errlen,
                       "boot protocol %u.%02u is too old: the 64-bit entry needs 2.12 or later",
                       o->version >> 8, o->version & 0xff);
    uint16_t xlf = (uint16_t)bz_le(f + BZ_HDR_XLOADFLAGS, 2);
    if (!(xlf & BZ_XLF_KERNEL_64))
        return hv_fail(err, errlen, "the kernel has no 64-bit entry point (xloadflags 0x%x)", xlf);
    if (!(f[BZ_HDR_LOADFLAGS] & BZ_LOADED_HIGH))
        return hv_fail(err, errlen, "not a bzImage: a zImage loads at 64 KiB (loadflags 0x%x)",
                       f[BZ_HDR_LOADFLAGS]);
    unsigned sects = f[BZ_HDR_SETUP_SECTS] ? f[BZ_HDR_SETUP_SECTS] : 4; /* 0 means 4 */
    o->setup_size = (sects + 1) * 512u;
    if (o->setup_size >= len)
        return hv_fail(
            err, errlen,
            "truncated: setup_sects %u puts the kernel at offset %u, past the file's %zu "
            "bytes",
            sects, o->setup_size, len);
    uint64_t syssize = (uint64_t)bz_le(f + BZ_HDR_SYSSIZE, 4) * 16;
    uint64_t avail = len - o->setup_size;
    if (syssize == 0)
        return hv_fail(err, errlen, "syssize is 0: no protected-mode kernel");
    if (syssize > avail + 15) /* syssize is rounded up to 16 bytes */
        return hv_fail(
            err, errlen,
            "truncated: syssize says %llu bytes of kernel, the file holds %llu after the "
            "setup code",
            (unsigned long long)syssize, (unsigned long long)avail);
    o->kernel_len = syssize < avail ? syssize : avail;
    o->init_size = bz_le(f + BZ_HDR_INIT_SIZE, 4);
    if (o->init_size < o->kernel_len)
        return hv_fail(err, errlen, "init_size %llu is smaller than the kernel's %llu bytes",
                       (unsigned long long)o->init_size, (unsigned long long)o->kernel_len);
    o->cmdline_max = bz_le(f + BZ_HDR_CMDLINE_SIZE, 4);
    if (o->cmdline_max > BZ_CMDLINE_MAX)
        o->cmdline_max = BZ_CMDLINE_MAX;
    o->entry = BZ_KERNEL_GPA + 0x200;
    return 0;
}

/* Where the kernel decompresses: at its load address aligned up to kernel_alignment, but not
 * below pref_address (arch/x86/boot/compressed/head_64.S); a non-relocatable one at
 * pref_address. */
static int plan_run_area(const uint8_t *f, uint64_t mem_size, struct bz_image *o, char *err,
                         size_t errlen)
{
    uint32_t align = bz_le(f + BZ_HDR_KERNEL_ALIGN, 4);
    uint64_t pref = le64(f + BZ_HDR_PREF_ADDRESS);
    bool relocatable = f[BZ_HDR_RELOCATABLE] != 0;
    if (relocatable && (align == 0 || (align & (align - 1)) || align > (1u << 30)))
        return hv_fail(err, errlen, "kernel_alignment 0x%x is not a power of two up to 1 GiB",
                       align);
    uint64_t start = pref;
    if (relocatable) {
        uint64_t aligned = (BZ_KERNEL_GPA + align - 1) & ~(uint64_t)(align - 1);
        start = aligned > pref ? aligned : pref;
    }
    if (start < BZ_KERNEL_GPA)
        return hv_fail(err, errlen, "pref_address 0x%llx is below 1 MiB", (unsigned long long)pref);
    if (__builtin_add_overflow(start, o->init_size, &o->run_end) || o->run_end > mem_size)
        return hv_fail(err, errlen,
                       "the kernel needs RAM up to 0x%llx (init_size %llu at 0x%llx); the VM has "
                       "%llu MiB",
                       (unsigned long long)(start + o->init_size), (unsigned long long)o->init_size,
                       (unsigned long long)start, (unsigned long long)(mem_size >> 20));
    o->run_start = start;
    return 0;
}

/* As high as RAM and initrd_addr_max (the highest byte it may occupy) allow, page aligned,
 * above everything the kernel will use. */
static int plan_initrd(const uint8_t *f, uint64_t mem_size, uint64_t initrd_len, struct bz_image *o,
                       char *err, size_t errlen)
{
    o->initrd_gpa = o->initrd_len = 0;
    if (!initrd_len)
        return 0;
    if (initrd_len > UINT32_MAX)
        return hv_fail(err, errlen, "initrd of %llu bytes: the boot protocol's limit is 4 GiB",
                       (unsigned long long)initrd_len);
    uint64_t top = (uint64_t)bz_le(f + BZ_HDR_INITRD_MAX, 4) + 1;
    if (top > mem_size)
        top = mem_size;
    top &= ~0xfffull;
    uint64_t low =
        o->run_end > BZ_KERNEL_GPA + o->kernel_len ? o->run_end : BZ_KERNEL_GPA + o->kernel_len;
    low = (low + 0xfff) & ~0xfffull;
    if (initrd_len > top || ((top - initrd_len) & ~0xfffull) < low)
        return hv_fail(err, errlen,
                       "initrd of %llu bytes is too large: it must fit between the kernel's end "
                       "0x%llx and 0x%llx (RAM, initrd_addr_max)",
                       (unsigned long long)initrd_len, (unsigned long long)low,
                       (unsigned long long)top);
    o->initrd_gpa = (top - initrd_len) & ~0xfffull;
    o->initrd_len = initrd_len;
    return 0;
}

int bz_check(const uint8_t *file, size_t file_len, uint64_t mem_size, uint64_t initrd_len,
             size_t cmdline_len, struct bz_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (mem_size > BZ_MAX_MEM || mem_size < (16ull << 20))
        return hv_fail(err, errlen,
                       "a Linux VM needs 16 MiB to %llu MiB of RAM (one slot below the 32-bit MMIO "
                       "hole); it has %llu MiB",
                       BZ_MAX_MEM >> 20, (unsigned long long)(mem_size >> 20));
    if (check_header(file, file_len, out, err, errlen) < 0)
        return -1;
    uint64_t kernel_end = BZ_KERNEL_GPA + out->kernel_len;
    if (kernel_end > mem_size)
        return hv_fail(err, errlen,
                       "the kernel's %llu bytes at 1 MiB do not fit in %llu MiB of RAM",
                       (unsigned long long)out->kernel_len, (unsigned long long)(mem_size >> 20));
    if (cmdline_len > out->cmdline_max)
        return hv_fail(err, errlen, "command line of %zu bytes; this kernel takes at most %u",
                       cmdline_len, out->cmdline_max);
    if (plan_run_area(file, mem_size, out, err, errlen) < 0)
        return -1;
    return plan_initrd(file, mem_size, initrd_len, out, err, errlen);
}

int bz_load(const uint8_t *file, size_t file_len, const uint8_t *initrd, size_t initrd_len,
            const char *cmdline, uint8_t *mem, uint64_t mem_size, struct bz_image *out, char *err,
            size_t errlen)
{
    size_t cmdline_len = cmdline ? strlen(cmdline) : 0;
    if (bz_check(file, file_len, mem_size, initrd_len, cmdline_len, out, err, errlen) < 0)
        return -1;
    memcpy(mem + BZ_KERNEL_GPA, file + out->setup_size, out->kernel_len);
    if (initrd_len)
        memcpy(mem + out->initrd_gpa, initrd, initrd_len);
    memset(mem + BZ_CMDLINE_GPA, 0, BZ_CMDLINE_MAX + 1);
    if (cmdline_len)
        memcpy(mem + BZ_CMDLINE_GPA, cmdline, cmdline_len);
    bz_write_zero_page(file, out, mem, mem_size);
    bz_write_boot_tables(mem, mem_size);
    return 0;
}
