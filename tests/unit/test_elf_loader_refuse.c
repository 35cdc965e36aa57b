/* test_elf_loader_refuse: malformed ELF64 headers and segments are refused by name. */
#include "elf_image_fixture.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
