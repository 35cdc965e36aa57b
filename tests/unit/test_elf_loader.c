/* test_elf_loader.c: elf_check/elf_load refuse malformed ELF64 images by name and load good ones.
 */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void img_init(struct img *im, uint64_t entry)
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
static Elf64_Phdr *img_add(struct img *im, uint32_t type, uint32_t flags, uint64_t vaddr,
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

static size_t img_size(const struct img *im)
{
    return DATA_OFF + im->data_len;
}

/* The first len bytes of the serialized image, in a buffer of exactly len bytes (so ASan sees
 * any read past the end). */
static uint8_t *img_file(const struct img *im, size_t len)
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
static void good_image(struct img *im)
{
    img_init(im, TEXT_ADDR + 0x10);
    img_add(im, PT_LOAD, PF_R | PF_X, TEXT_ADDR, 0x200, 0x200, 0x10);
    img_add(im, PT_LOAD, PF_R | PF_W, DATA_ADDR, 0x100, 0x1800, 0x80);
}

static uint8_t *guest_mem(void)
{
    uint8_t *mem = malloc(GUEST_MEM);
    assert_non_null(mem);
    memset(mem, 0xaa, GUEST_MEM);
    return mem;
}

static void assert_contains(const char *err, const char *needle)
{
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void assert_untouched(const uint8_t *mem)
{
    for (size_t i = 0; i < GUEST_MEM; i++)
        if (mem[i] != 0xaa)
            fail_msg("guest memory modified at 0x%zx", i);
}

/* Both elf_check and elf_load must refuse the first len bytes of im naming `needle`, and
 * elf_load must leave guest memory alone. */
static void refuse_len(const struct img *im, size_t len, uint64_t limit, const char *needle)
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

static void refuse(const struct img *im, const char *needle)
{
    refuse_len(im, img_size(im), GUEST_MEM, needle);
}

static void test_good_image_loads(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    size_t len = img_size(&im);
    uint8_t *f = img_file(&im, len);
    uint8_t *mem = guest_mem();
    struct elf_image out = {0};
    char err[256] = "";

    assert_int_equal(elf_check(f, len, GUEST_MEM, &out, err, sizeof err), 0);
    assert_int_equal(out.entry, TEXT_ADDR + 0x10);
    assert_int_equal(out.start, TEXT_ADDR);
    assert_int_equal(out.end, DATA_ADDR + 0x2000); /* 0x102800 rounded up to a page */
    assert_untouched(mem);                         /* elf_check never writes guest memory */

    memset(&out, 0, sizeof out);
    assert_int_equal(elf_load(f, len, mem, GUEST_MEM, &out, err, sizeof err), 0);
    assert_int_equal(out.entry, TEXT_ADDR + 0x10);
    assert_int_equal(out.start, TEXT_ADDR);
    assert_int_equal(out.end, DATA_ADDR + 0x2000);

    /* Text and data bytes copied from the file. */
    for (size_t i = 0; i < 0x200; i++)
        assert_int_equal(mem[TEXT_ADDR + i], (uint8_t)(0x10 + i));
    for (size_t i = 0; i < 0x100; i++)
        assert_int_equal(mem[DATA_ADDR + i], (uint8_t)(0x80 + i));
    /* The bss tail is zeroed. */
    for (size_t i = 0x100; i < 0x1800; i++)
        assert_int_equal(mem[DATA_ADDR + i], 0);
    /* Nothing outside the segments is written. */
    assert_int_equal(mem[TEXT_ADDR - 1], 0xaa);
    for (size_t a = TEXT_ADDR + 0x200; a < DATA_ADDR; a++)
        assert_int_equal(mem[a], 0xaa);
    assert_int_equal(mem[DATA_ADDR + 0x1800], 0xaa);
    assert_int_equal(mem[0], 0xaa);
    assert_int_equal(mem[GUEST_MEM - 1], 0xaa);
    free(mem);
    free(f);
}

static void test_non_load_headers_ignored(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, TEXT_ADDR);
    img_add(&im, PT_NOTE, PF_R, 0, 0x20, 0x20, 0x33);           /* below 1 MiB, but not loaded */
    img_add(&im, PT_GNU_STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0); /* W+X, but not loaded */
    img_add(&im, PT_LOAD, PF_R | PF_X, TEXT_ADDR, 0x40, 0x40, 0x01);
    img_add(&im, PT_LOAD, PF_R | PF_W, 0x200000, 0, 0, 0); /* empty PT_LOAD: skipped */
    size_t len = img_size(&im);
    uint8_t *f = img_file(&im, len);
    struct elf_image out;
    char err[256] = "";
    assert_int_equal(elf_check(f, len, GUEST_MEM, &out, err, sizeof err), 0);
    assert_int_equal(out.start, TEXT_ADDR);
    assert_int_equal(out.end, TEXT_ADDR + 0x1000);
    free(f);
}

static void test_end_clamped_to_limit(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    uint64_t limit = DATA_ADDR + 0x1800; /* RAM ends exactly where bss does, mid-page */
    size_t len = img_size(&im);
    uint8_t *f = img_file(&im, len);
    struct elf_image out;
    char err[256] = "";
    assert_int_equal(elf_check(f, len, limit, &out, err, sizeof err), 0);
    assert_int_equal(out.end, limit);
    free(f);
    /* One byte less of RAM and it no longer fits. */
    refuse_len(&im, len, limit - 1, "does not fit in guest RAM");
}

static void test_bad_magic(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_ident[EI_MAG1] = 'X';
    refuse(&im, "bad magic");
}

static void test_class32(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_ident[EI_CLASS] = ELFCLASS32;
    refuse(&im, "not a 64-bit ELF");
}

static void test_big_endian(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    refuse(&im, "little-endian");
}

static void test_wrong_machine(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_machine = EM_AARCH64;
    refuse(&im, "wrong architecture: e_machine 183");
}

static void test_et_dyn(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_type = ET_DYN;
    refuse(&im, "expected ET_EXEC");
}

static void test_bad_phentsize(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_phentsize = 32;
    refuse(&im, "program header size 32");
}

static void test_truncated_header(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    refuse_len(&im, 0, GUEST_MEM, "shorter than an ELF header");
    refuse_len(&im, sizeof(Elf64_Ehdr) - 1, GUEST_MEM, "shorter than an ELF header");
}

static void test_phdrs_past_eof(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    /* The file ends in the middle of the second program header. */
    refuse_len(&im, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 8, GUEST_MEM,
               "program headers end past");
    /* e_phoff points near the end of the file. */
    good_image(&im);
    im.eh.e_phoff = img_size(&im) - sizeof(Elf64_Phdr);
    refuse(&im, "program headers end past");
    /* e_phoff + e_phnum * e_phentsize wraps around 64 bits. */
    good_image(&im);
    im.eh.e_phoff = UINT64_MAX - 16;
    refuse(&im, "program headers end past");
}

static void test_segment_data_past_eof(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    /* The last byte of the data segment is missing. */
    refuse_len(&im, img_size(&im) - 1, GUEST_MEM, "segment 1's data ends past");
    good_image(&im);
    im.ph[0].p_offset = img_size(&im); /* starts at EOF */
    refuse(&im, "segment 0's data ends past");
    good_image(&im);
    im.ph[0].p_offset = UINT64_MAX - 0x100; /* p_offset + p_filesz wraps */
    refuse(&im, "segment 0's data ends past");
}

static void test_overlapping_segments(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, TEXT_ADDR);
    img_add(&im, PT_LOAD, PF_R | PF_X, TEXT_ADDR, 0x100, 0x1000, 1);
    img_add(&im, PT_LOAD, PF_R | PF_W, TEXT_ADDR + 0xfff, 0x10, 0x10, 2); /* last byte shared */
    refuse(&im, "segment 1 at 0x100fff overlaps or precedes the previous one");
}

static void test_descending_segments(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, DATA_ADDR * 2);
    img_add(&im, PT_LOAD, PF_R | PF_X, DATA_ADDR * 2, 0x100, 0x100, 1);
    img_add(&im, PT_LOAD, PF_R | PF_W, TEXT_ADDR, 0x10, 0x10, 2); /* disjoint but lower */
    refuse(&im, "segment 1 at 0x100000 overlaps or precedes");
}

static void test_adjacent_segments_ok(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, TEXT_ADDR);
    img_add(&im, PT_LOAD, PF_R | PF_X, TEXT_ADDR, 0x100, 0x1000, 1);
    img_add(&im, PT_LOAD, PF_R | PF_W, TEXT_ADDR + 0x1000, 0x10, 0x10, 2); /* touching, disjoint */
    size_t len = img_size(&im);
    uint8_t *f = img_file(&im, len);
    struct elf_image out;
    char err[256] = "";
    assert_int_equal(elf_check(f, len, GUEST_MEM, &out, err, sizeof err), 0);
    assert_int_equal(out.end, TEXT_ADDR + 0x2000);
    free(f);
}

static void test_below_1mib(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, ELF_LOAD_MIN_ADDR - 0x1000);
    img_add(&im, PT_LOAD, PF_R | PF_X, ELF_LOAD_MIN_ADDR - 0x1000, 0x100, 0x100, 1);
    refuse(&im, "below the 1 MiB minimum");
}

static void test_wx_segment(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.ph[1].p_flags = PF_R | PF_W | PF_X;
    refuse(&im, "W+X");
}

static void test_filesz_exceeds_memsz(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.ph[1].p_memsz = im.ph[1].p_filesz - 1;
    refuse(&im, "segment 1: p_filesz 256 exceeds p_memsz 255");
}

static void test_segment_beyond_ram(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.ph[1].p_memsz = GUEST_MEM - DATA_ADDR + 1; /* one byte past the end of RAM */
    refuse(&im, "does not fit in guest RAM");
    good_image(&im);
    im.ph[1].p_vaddr = im.ph[1].p_paddr = GUEST_MEM; /* starts at the end of RAM */
    refuse(&im, "does not fit in guest RAM");
}

static void test_memsz_overflow(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.ph[1].p_memsz = UINT64_MAX - DATA_ADDR + 1; /* p_vaddr + p_memsz == 2^64 */
    refuse(&im, "p_vaddr + p_memsz overflows");
}

static void test_entry_outside_exec(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.eh.e_entry = DATA_ADDR; /* inside the writable, non-executable segment */
    refuse(&im, "entry point 0x101000 is not inside an executable segment");
    good_image(&im);
    im.eh.e_entry = TEXT_ADDR + 0x200; /* one past the text segment */
    refuse(&im, "not inside an executable segment");
    good_image(&im);
    im.eh.e_entry = 0;
    refuse(&im, "not inside an executable segment");
}

static void test_paddr_differs(void **state)
{
    (void)state;
    struct img im;
    good_image(&im);
    im.ph[1].p_paddr = DATA_ADDR + 0x1000;
    refuse(&im, "segment 1: p_paddr 0x102000 differs from p_vaddr 0x101000");
}

static void test_no_load_segments(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, TEXT_ADDR);
    img_add(&im, PT_NOTE, PF_R, TEXT_ADDR, 0x10, 0x10, 1);
    refuse(&im, "no loadable segment");
    img_init(&im, TEXT_ADDR); /* e_phnum == 0 */
    refuse(&im, "bad program header count 0");
}

static void test_too_many_phdrs(void **state)
{
    (void)state;
    struct img im;
    img_init(&im, TEXT_ADDR);
    img_add(&im, PT_LOAD, PF_R | PF_X, TEXT_ADDR, 0x10, 0x10, 1);
    while (im.eh.e_phnum < 64)
        img_add(&im, PT_NULL, 0, 0, 0, 0, 0);
    /* 64 is the maximum and is accepted. */
    size_t len = img_size(&im);
    uint8_t *f = img_file(&im, len);
    struct elf_image out;
    char err[256] = "";
    assert_int_equal(elf_check(f, len, GUEST_MEM, &out, err, sizeof err), 0);
    free(f);
    img_add(&im, PT_NULL, 0, 0, 0, 0, 0);
    refuse(&im, "bad program header count 65");
}

static void test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/vigil-elf-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t content[1000];
    for (size_t i = 0; i < sizeof content; i++)
        content[i] = (uint8_t)(i * 7);
    assert_int_equal(write(fd, content, sizeof content), (ssize_t)sizeof content);
    close(fd);

    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256] = "";
    /* Exactly at the limit: read whole. */
    assert_int_equal(elf_read_file(path, sizeof content, &buf, &len, err, sizeof err), 0);
    assert_int_equal(len, sizeof content);
    assert_memory_equal(buf, content, sizeof content);
    free(buf);

    /* One byte over the limit. */
    buf = NULL;
    assert_int_equal(elf_read_file(path, sizeof content - 1, &buf, &len, err, sizeof err), -1);
    assert_contains(err, "1000 bytes, more than the 999-byte limit");
    assert_null(buf);
    unlink(path);

    /* A missing file. */
    assert_int_equal(elf_read_file(path, 1 << 20, &buf, &len, err, sizeof err), -1);
    assert_contains(err, "cannot open");
    assert_contains(err, path);
    assert_null(buf);

    /* A directory. */
    assert_int_equal(elf_read_file("/tmp", 1 << 20, &buf, &len, err, sizeof err), -1);
    assert_contains(err, "not a regular file");
    assert_null(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_image_loads),
        cmocka_unit_test(test_non_load_headers_ignored),
        cmocka_unit_test(test_end_clamped_to_limit),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_class32),
        cmocka_unit_test(test_big_endian),
        cmocka_unit_test(test_wrong_machine),
        cmocka_unit_test(test_et_dyn),
        cmocka_unit_test(test_bad_phentsize),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_phdrs_past_eof),
        cmocka_unit_test(test_segment_data_past_eof),
        cmocka_unit_test(test_overlapping_segments),
        cmocka_unit_test(test_descending_segments),
        cmocka_unit_test(test_adjacent_segments_ok),
        cmocka_unit_test(test_below_1mib),
        cmocka_unit_test(test_wx_segment),
        cmocka_unit_test(test_filesz_exceeds_memsz),
        cmocka_unit_test(test_segment_beyond_ram),
        cmocka_unit_test(test_memsz_overflow),
        cmocka_unit_test(test_entry_outside_exec),
        cmocka_unit_test(test_paddr_differs),
        cmocka_unit_test(test_no_load_segments),
        cmocka_unit_test(test_too_many_phdrs),
        cmocka_unit_test(test_read_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
