/* test_x86_boot_info: boot info, memory map and refused sizes, command line and name, devices. */
#include "x86_boot_fixture.h"

static void test_boot_info(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.magic, VIGIL_BOOT_MAGIC);
    assert_int_equal(bi.abi_version, VIGIL_ABI_VERSION);
    assert_int_equal(bi.size, sizeof bi);
    assert_int_equal(bi.flags, VIGIL_BOOT_F_SERVICE);
    assert_int_equal(bi.vcpu_count, 2);
    assert_int_equal(bi.mem_size, MEM_SIZE);
    assert_int_equal(bi.stack_size, BOOT_STACK_SIZE);
    assert_int_equal(bi.tsc_hz, 2100000000ull);
    assert_string_equal(bi.vm_name, "service");
    assert_int_equal(bi.cmdline_gpa, BOOT_CMDLINE_GPA);
    assert_int_equal(bi.cmdline_len, strlen("console=ttyS0 quiet"));
    assert_memory_equal(mem + BOOT_CMDLINE_GPA, "console=ttyS0 quiet", bi.cmdline_len + 1);
    /* The boot structures stay out of each other's way. */
    assert_true(BOOT_INFO_GPA + sizeof bi <= BOOT_CMDLINE_GPA);
}

/* A device window is listed in the boot info and mapped, uncached, in its own 2 MiB page(s)
 * above RAM, even in a GiB RAM does not reach; RAM's mapping is unchanged. */
static void test_device_window(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.ndevices = 1;
    p.devices[0] = (struct vigil_boot_device){
        .type = VIGIL_DEV_VIRTIO_MMIO, .id = 1, .base = 0xd0000000ull, .size = 0x200, .irq = 5};
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_true(VIGIL_BOOT_HAS_DEVICES(&bi));
    assert_int_equal(bi.device_count, 1);
    assert_memory_equal(&bi.devices[0], &p.devices[0], sizeof bi.devices[0]);
    assert_int_equal(walk(mem, MEM_SIZE, 0xd0000000ull + 0x50), 0xd0000050ull);
    uint64_t pde = get64(mem, BOOT_PD_GPA + (0xd0000000ull >> 21) * 8);
    assert_int_equal(pde & 0x18, 0x18); /* PCD | PWT: device registers are not cached */
    assert_int_equal(walk(mem, MEM_SIZE, 0xd0000000ull + 2 * MIB), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, 0xd0000000ull - 8), UINT64_MAX);
    assert_int_equal(walk(mem, MEM_SIZE, MEM_SIZE - 8), MEM_SIZE - 8);
}

static void test_device_window_refused(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    p.ndevices = 1;
    p.devices[0] = (struct vigil_boot_device){
        .type = VIGIL_DEV_VIRTIO_MMIO, .base = MEM_SIZE - 4096, .size = 0x200};
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "above RAM"));
    p.devices[0].base = BOOT_MAX_MEM - 0x100; /* runs past the page directories hv keeps */
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    p.devices[0].base = UINT64_MAX - 0x100; /* wraps */
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    p.devices[0] = (struct vigil_boot_device){.base = 0xd0000000ull, .size = 0};
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    p.ndevices = VIGIL_BOOT_DEV_MAX + 1;
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_all_zero(mem, MEM_SIZE);
}

/* Checks that the memory map is sorted, contiguous, covers [0, mem_size) and matches `want`. */
static void check_mmap(const struct vigil_boot_info *bi, const struct vigil_mem_region *want,
                       uint32_t n)
{
    assert_int_equal(bi->mmap_count, n);
    uint64_t at = 0;
    for (uint32_t i = 0; i < bi->mmap_count; i++) {
        const struct vigil_mem_region *r = &bi->mmap[i];
        assert_int_equal(r->base, at);
        assert_true(r->len > 0);
        assert_int_equal(r->base, want[i].base);
        assert_int_equal(r->len, want[i].len);
        assert_int_equal(r->type, want[i].type);
        at = r->base + r->len;
    }
    assert_int_equal(at, bi->mem_size);
}

static void test_memory_map(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    const uint64_t stacks = 2 * BOOT_STACK_SIZE;
    const struct vigil_mem_region want[] = {
        {0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED, 0},
        {ELF_LOAD_MIN_ADDR, 0x3000, VIGIL_MEM_IMAGE, 0},
        {ELF_LOAD_MIN_ADDR + 0x3000, MEM_SIZE - stacks - ELF_LOAD_MIN_ADDR - 0x3000, VIGIL_MEM_FREE,
         0},
        {MEM_SIZE - stacks, stacks, VIGIL_MEM_STACKS, 0},
    };
    check_mmap(&bi, want, 4);
}

static void test_memory_map_gap_below_image(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.vcpus = 3;
    p.image_start = 2 * MIB;
    p.image_end = 3 * MIB;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    const uint64_t stacks = 3 * BOOT_STACK_SIZE;
    const struct vigil_mem_region want[] = {
        {0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED, 0},
        {ELF_LOAD_MIN_ADDR, MIB, VIGIL_MEM_FREE, 0},
        {2 * MIB, MIB, VIGIL_MEM_IMAGE, 0},
        {3 * MIB, MEM_SIZE - stacks - 3 * MIB, VIGIL_MEM_FREE, 0},
        {MEM_SIZE - stacks, stacks, VIGIL_MEM_STACKS, 0},
    };
    check_mmap(&bi, want, 5);
}

static void test_image_right_below_stacks(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.image_end = MEM_SIZE - 2 * BOOT_STACK_SIZE; /* no free memory above the image */
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    const struct vigil_mem_region want[] = {
        {0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED, 0},
        {ELF_LOAD_MIN_ADDR, p.image_end - ELF_LOAD_MIN_ADDR, VIGIL_MEM_IMAGE, 0},
        {p.image_end, 2 * BOOT_STACK_SIZE, VIGIL_MEM_STACKS, 0},
    };
    check_mmap(&bi, want, 3);
}

static void test_rejects_bad_mem_size(void **state)
{
    uint8_t *mem = *state;
    static const uint64_t sizes[] = {
        MEM_SIZE - 4096,        /* not a multiple of 2 MiB */
        5 * MIB,                /* not a multiple of 2 MiB */
        2 * MIB,                /* below 4 MiB */
        0,                      /* below 4 MiB */
        BOOT_MAX_MEM + 2 * MIB, /* above 64 GiB */
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct boot_params p = params();
        p.mem_size = sizes[i];
        char err[256] = "";
        assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
        assert_non_null(strstr(err, "must be a multiple of 2 MiB in [4 MiB, 64 GiB]"));
    }
    /* The smallest size is fine. */
    struct boot_params p = params();
    p.mem_size = BOOT_MIN_MEM;
    p.vcpus = 1;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
}

static void test_rejects_no_room_for_stacks(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.image_end = MEM_SIZE - 2 * BOOT_STACK_SIZE + 4096;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "2 vCPU stacks do not fit in 8 MiB"));
    assert_all_zero(mem, MEM_SIZE);

    p = params();
    p.vcpus = 32; /* 8 MiB of stacks */
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "32 vCPU stacks do not fit"));
    assert_all_zero(mem, MEM_SIZE);
}

static void test_cmdline_limits(void **state)
{
    uint8_t *mem = *state;
    char *cmd = malloc(VIGIL_BOOT_CMDLINE_MAX + 1);
    assert_non_null(cmd);
    memset(cmd, 'c', VIGIL_BOOT_CMDLINE_MAX);
    cmd[VIGIL_BOOT_CMDLINE_MAX] = '\0'; /* 4096 characters: one too many */
    struct boot_params p = params();
    p.cmdline = cmd;
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "command line is 4096 bytes, the limit is 4095"));
    assert_all_zero(mem, MEM_SIZE);

    cmd[VIGIL_BOOT_CMDLINE_MAX - 1] = '\0'; /* 4095: fits with its NUL */
    memset(mem + BOOT_CMDLINE_GPA, 0x55, VIGIL_BOOT_CMDLINE_MAX);
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.cmdline_len, VIGIL_BOOT_CMDLINE_MAX - 1);
    assert_memory_equal(mem + BOOT_CMDLINE_GPA, cmd, VIGIL_BOOT_CMDLINE_MAX - 1);
    assert_int_equal(mem[BOOT_CMDLINE_GPA + VIGIL_BOOT_CMDLINE_MAX - 1], 0);
    /* The command line page stops short of the page tables. */
    assert_int_equal(get64(mem, BOOT_PML4_GPA), BOOT_PDPT_GPA | 7);
    free(cmd);
}

static void test_no_cmdline_or_name(void **state)
{
    uint8_t *mem = *state;
    struct boot_params p = params();
    p.cmdline = NULL;
    p.name = NULL;
    memset(mem + BOOT_CMDLINE_GPA, 0x55, 16);
    char err[256] = "";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    struct vigil_boot_info bi = boot_info(mem);
    assert_int_equal(bi.cmdline_len, 0);
    assert_int_equal(mem[BOOT_CMDLINE_GPA], 0);
    assert_string_equal(bi.vm_name, "");

    p.name = "a-very-long-virtual-machine-name-indeed";
    assert_int_equal(boot_write_tables(mem, &p, err, sizeof err), 0);
    bi = boot_info(mem);
    assert_int_equal(strnlen(bi.vm_name, sizeof bi.vm_name), VIGIL_BOOT_VM_NAME_MAX - 1);
    assert_memory_equal(bi.vm_name, p.name, VIGIL_BOOT_VM_NAME_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_boot_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_map_gap_below_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_right_below_stacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_bad_mem_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_no_room_for_stacks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmdline_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cmdline_or_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_window_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
