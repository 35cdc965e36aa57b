/* elf_image_fixture.h: ELF64 images built in memory, guest RAM, and the refusal checks. */
#ifndef VIGIL_TEST_ELF_IMAGE_FIXTURE_H
#define VIGIL_TEST_ELF_IMAGE_FIXTURE_H

#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "x86/elf_loader.h"

#define MIB       (1024ull * 1024ull)
#define GUEST_MEM (8 * MIB)
#define PH_SLOTS  72 /* more than the loader's 64-phdr limit */
#define DATA_OFF  (sizeof(Elf64_Ehdr) + PH_SLOTS * sizeof(Elf64_Phdr)) /* 4096 */
#define DATA_MAX  (64u * 1024u)
#define TEXT_ADDR 0x100000ull
#define DATA_ADDR 0x101000ull

/* An ELF image under construction: header, a fixed block of phdrs, then payload. */
struct img {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[PH_SLOTS];
    uint8_t data[DATA_MAX];
    size_t data_len;
};

static inline void img_init(struct img *im, uint64_t entry)
{
    memset(im, 0, sizeof *im);
    memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
    im->eh.e_ident[EI_CLASS] = ELFCLASS64;
    im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    im->eh.e_ident[EI_VERSION] = EV_CURRENT;
    im->eh.e_type = ET_EXEC;
    im->eh.e_machine = EM_X86_64;
    im->eh.e_version = EV_CURRENT;
    im->eh.e_entry = entry;
    im->eh.e_phoff = sizeof(Elf64_Ehdr);
    im->eh.e_ehsize = sizeof(Elf64_Ehdr);
    im->eh.e_phentsize = sizeof(Elf64_Phdr);
    im->eh.e_phnum = 0;
}

/* Adds a program header whose file bytes are (seed + i); returns it for tweaking. */
static inline Elf64_Phdr *img_add(struct img *im, uint32_t type, uint32_t flags, uint64_t vaddr,
                                  uint64_t filesz, uint64_t memsz, uint8_t seed)
{
    assert_true(im->eh.e_phnum < PH_SLOTS);
    assert_true(im->data_len + filesz <= DATA_MAX);
    Elf64_Phdr *ph = &im->ph[im->eh.e_phnum++];
    ph->p_type = type;
    ph->p_flags = flags;
    ph->p_offset = DATA_OFF + im->data_len;
    ph->p_vaddr = vaddr;
    ph->p_paddr = vaddr;
    ph->p_filesz = filesz;
    ph->p_memsz = memsz;
    ph->p_align = 0x1000;
    for (uint64_t i = 0; i < filesz; i++)
        im->data[im->data_len + i] = (uint8_t)(seed + i);
    im->data_len += filesz;
    return ph;
}

static inline size_t img_size(const struct img *im)
{
    return DATA_OFF + im->data_len;
}

/* The first len bytes of the serialized image, in a buffer of exactly len bytes (so ASan sees
 * any read past the end). */
static inline uint8_t *img_file(const struct img *im, size_t len)
{
    size_t full = img_size(im);
    uint8_t *all = calloc(1, full);
    assert_non_null(all);
    memcpy(all, &im->eh, sizeof im->eh);
    memcpy(all + sizeof im->eh, im->ph, sizeof im->ph);
    memcpy(all + DATA_OFF, im->data, im->data_len);
    uint8_t *f = malloc(len ? len : 1);
    assert_non_null(f);
    memcpy(f, all, len < full ? len : full);
    if (len > full)
        memset(f + full, 0, len - full);
    free(all);
    return f;
}

/* A valid image: R+X text at 1 MiB, R+W data with a bss tail at 1 MiB + 4 KiB. */
static inline void good_image(struct img *im)
{
    img_init(im, TEXT_ADDR + 0x10);
    img_add(im, PT_LOAD, PF_R | PF_X, TEXT_ADDR, 0x200, 0x200, 0x10);
    img_add(im, PT_LOAD, PF_R | PF_W, DATA_ADDR, 0x100, 0x1800, 0x80);
}

static inline uint8_t *guest_mem(void)
{
    uint8_t *mem = malloc(GUEST_MEM);
    assert_non_null(mem);
    memset(mem, 0xaa, GUEST_MEM);
    return mem;
}

static inline void assert_contains(const char *err, const char *needle)
{
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static inline void assert_untouched(const uint8_t *mem)
{
    for (size_t i = 0; i < GUEST_MEM; i++)
        if (mem[i] != 0xaa)
            fail_msg("guest memory modified at 0x%zx", i);
}

/* Both elf_check and elf_load must refuse the first len bytes of im naming `needle`, and
 * elf_load must leave guest memory alone. */
static inline void refuse_len(const struct img *im, size_t len, uint64_t limit, const char *needle)
{
    uint8_t *f = img_file(im, len);
    struct elf_image out;
    char err[256] = "";
    assert_int_equal(elf_check(f, len, limit, &out, err, sizeof err), -1);
    assert_contains(err, needle);
    if (limit == GUEST_MEM) {
        uint8_t *mem = guest_mem();
        err[0] = '\0';
        assert_int_equal(elf_load(f, len, mem, GUEST_MEM, &out, err, sizeof err), -1);
        assert_contains(err, needle);
        assert_untouched(mem);
        free(mem);
    }
    free(f);
}

static inline void refuse(const struct img *im, const char *needle)
{
    refuse_len(im, img_size(im), GUEST_MEM, needle);
}

#endif
