/* test_elf_loader: elf_check/elf_load load good ELF64 images; elf_read_file's limits. */
#include "elf_image_fixture.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

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
        cmocka_unit_test(test_read_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
