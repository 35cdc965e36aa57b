/* test_devices.c: a VM's device table: registration, overlap refusal, lookup, dispatch, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "supervisor/board.h"
#include "vmm/devices.h"

/* A fake device's instance: what the table did to it. */
struct fake {
    unsigned ios, resets, inputs, destroyed, releases;
    struct dev_io last;
    uint8_t seen[8];
};

static unsigned destroy_order[8], ndestroyed;

static void fake_io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    struct fake *f = ctx;
    (void)v;
    f->ios++;
    f->last = *io;
    if (io->write)
        memcpy(f->seen, io->data, io->size);
    else
        memset(io->data, 0x5a, io->size);
}

static void fake_reset(void *ctx)
{
    ((struct fake *)ctx)->resets++;
}

static void fake_release(void *ctx)
{
    ((struct fake *)ctx)->releases++;
}

static void fake_input(void *ctx)
{
    ((struct fake *)ctx)->inputs++;
}

static void fake_destroy(void *ctx)
{
    struct fake *f = ctx;
    f->destroyed++;
    destroy_order[ndestroyed++ % 8] = f->seen[7];
}

static const struct dev_model com = {
    .name = "com",
    .ranges = (const struct dev_range[]){{DEV_PIO, 0x3f8, 0x3ff}},
    .nranges = 1,
    .io = fake_io,
    .reset = fake_reset,
    .console_input = fake_input,
    .destroy = fake_destroy,
};

static const struct dev_model nic = {
    .name = "nic",
    .ranges =
        (const struct dev_range[]){{DEV_PIO, 0xc000, 0xc01f}, {DEV_MMIO, 0xfe000000, 0xfe000fff}},
    .nranges = 2,
    .io = fake_io,
    .destroy = fake_destroy,
};

static void test_register_and_find(void **state)
{
    (void)state;
    struct devices t = {0};
    struct fake a = {0}, b = {0};
    char err[256];
    assert_int_equal(devices_register(&t, &com, &a, err, sizeof err), 0);
    assert_int_equal(devices_register(&t, &nic, &b, err, sizeof err), 0);
    assert_int_equal(t.n, 2);
    assert_ptr_equal(devices_find(&t, DEV_PIO, 0x3f8)->ctx, &a);
    assert_ptr_equal(devices_find(&t, DEV_PIO, 0x3ff)->ctx, &a);
    assert_ptr_equal(devices_find(&t, DEV_PIO, 0xc010)->ctx, &b);
    assert_ptr_equal(devices_find(&t, DEV_MMIO, 0xfe000800)->model, &nic);
    assert_null(devices_find(&t, DEV_PIO, 0x3f7));
    assert_null(devices_find(&t, DEV_PIO, 0x400));
    assert_null(devices_find(&t, DEV_MMIO, 0x3f8)); /* a port is not an address */
    assert_null(devices_find(&t, DEV_MMIO, 0xfe001000));
}

static void test_overlap_is_refused(void **state)
{
    (void)state;
    struct devices t = {0};
    char err[256];
    assert_int_equal(devices_register(&t, &com, NULL, err, sizeof err), 0);

    const struct dev_model clash = {
        .name = "clash",
        .ranges = (const struct dev_range[]){{DEV_MMIO, 0x3f8, 0x3f8}, {DEV_PIO, 0x3f0, 0x3f8}},
        .nranges = 2,
        .io = fake_io,
    };
    assert_int_equal(devices_register(&t, &clash, NULL, err, sizeof err), -1);
    assert_string_equal(err, "device clash: port range 0x3f0-0x3f8 overlaps com's 0x3f8-0x3ff");
    assert_int_equal(t.n, 1);

    assert_int_equal(devices_register(&t, &com, NULL, err, sizeof err), -1); /* a second COM1 */

    const struct dev_model self = {
        .name = "self",
        .ranges =
            (const struct dev_range[]){{DEV_MMIO, 0x1000, 0x1fff}, {DEV_MMIO, 0x1ff0, 0x2000}},
        .nranges = 2,
        .io = fake_io,
    };
    assert_int_equal(devices_register(&t, &self, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "MMIO range 0x1000-0x1fff overlaps self's 0x1ff0-0x2000"));

    const struct dev_model bad = {
        .name = "bad",
        .ranges = (const struct dev_range[]){{DEV_PIO, 0xfff0, 0x10000}},
        .nranges = 1,
        .io = fake_io,
    };
    assert_int_equal(devices_register(&t, &bad, NULL, err, sizeof err), -1);
    assert_string_equal(err, "device bad: bad port range 0xfff0-0x10000");

    const struct dev_model mute = {
        .name = "mute", .ranges = (const struct dev_range[]){{DEV_PIO, 1, 1}}, .nranges = 1};
    assert_int_equal(devices_register(&t, &mute, NULL, err, sizeof err), -1);
    assert_int_equal(t.n, 1);
}

static void test_table_full(void **state)
{
    (void)state;
    static struct dev_range ranges[DEVICES_MAX + 1];
    static struct dev_model models[DEVICES_MAX + 1];
    struct devices t = {0};
    char err[256];
    for (int i = 0; i <= DEVICES_MAX; i++) {
        ranges[i] = (struct dev_range){DEV_PIO, 0x100u + i, 0x100u + i};
        models[i] =
            (struct dev_model){.name = "one", .ranges = &ranges[i], .nranges = 1, .io = fake_io};
        assert_int_equal(devices_register(&t, &models[i], NULL, err, sizeof err),
                         i < DEVICES_MAX ? 0 : -1);
    }
    assert_string_equal(err, "device one: the table is full (16 devices)");
}

static void test_dispatch(void **state)
{
    (void)state;
    struct devices t = {0};
    struct fake a = {0}, b = {0};
    char err[256];
    assert_int_equal(devices_register(&t, &com, &a, err, sizeof err), 0);
    assert_int_equal(devices_register(&t, &nic, &b, err, sizeof err), 0);

    uint8_t data[8] = {'h'};
    struct dev_io out = {DEV_PIO, 0x3f8, 1, 1, true, data};
    assert_true(devices_io(&t, NULL, &out));
    assert_int_equal(a.ios, 1);
    assert_int_equal(a.seen[0], 'h');
    assert_int_equal(a.last.addr, 0x3f8);
    assert_int_equal(b.ios, 0);

    struct dev_io in = {DEV_MMIO, 0xfe000004, 4, 1, false, data};
    assert_true(devices_io(&t, NULL, &in));
    assert_int_equal(b.ios, 1);
    assert_int_equal(b.last.space, DEV_MMIO);
    assert_int_equal(data[3], 0x5a);

    struct dev_io nobody = {DEV_PIO, 0x60, 1, 1, false, data};
    assert_false(devices_io(&t, NULL, &nobody));
    assert_int_equal(a.ios + b.ios, 2);
}

static void test_reset_input_destroy(void **state)
{
    (void)state;
    struct devices t = {0};
    struct fake a = {.seen[7] = 1}, b = {.seen[7] = 2};
    char err[256];
    assert_int_equal(devices_register(&t, &com, &a, err, sizeof err), 0);
    assert_int_equal(devices_register(&t, &nic, &b, err, sizeof err), 0);
    devices_reset(&t);
    devices_reset(&t);
    devices_console_input(&t);
    assert_int_equal(a.resets, 2);
    assert_int_equal(a.inputs, 1);
    assert_int_equal(b.resets + b.inputs, 0); /* nic has neither hook */

    ndestroyed = 0;
    devices_destroy(&t);
    assert_int_equal(t.n, 0);
    assert_int_equal(a.destroyed + b.destroyed, 2);
    assert_int_equal(destroy_order[0], 2); /* the reverse of registration */
    assert_int_equal(destroy_order[1], 1);
    assert_false(devices_io(&t, NULL, &(struct dev_io){DEV_PIO, 0x3f8, 1, 1, true, a.seen}));
}

static const struct vigil_boot_device nic_boot = {
    .type = VIGIL_DEV_VIRTIO_MMIO, .id = 1, .base = 0xd0000000, .size = 0x200, .irq = 5};

/* release reaches the devices that have it; the boot info lists those that describe
 * themselves, in table order. */
static void test_release_and_boot_info(void **state)
{
    (void)state;
    struct dev_model com2 = com, nic2 = nic, nic3 = nic;
    com2.release = fake_release;
    nic2.boot = &nic_boot;
    nic3.boot = &nic_boot;
    nic3.ranges = (const struct dev_range[]){{DEV_MMIO, 0xd0001000, 0xd00011ff}};
    nic3.nranges = 1;
    struct devices t = {0};
    struct fake a = {0}, b = {0}, c = {0};
    char err[256];
    assert_int_equal(devices_register(&t, &com2, &a, err, sizeof err), 0);
    assert_int_equal(devices_register(&t, &nic2, &b, err, sizeof err), 0);
    devices_release(&t);
    assert_int_equal(a.releases, 1);
    assert_int_equal(b.releases, 0);
    struct vigil_boot_device out[2];
    assert_int_equal(devices_boot_info(&t, out, 2), 1);
    assert_memory_equal(&out[0], &nic_boot, sizeof nic_boot);
    assert_int_equal(devices_register(&t, &nic3, &c, err, sizeof err), 0);
    assert_int_equal(devices_boot_info(&t, out, 1), 2); /* counted, not written */
}

static struct fake created;

static int fake_create(struct vm *vm, void **ctx, char *err, size_t errlen)
{
    (void)vm, (void)err, (void)errlen;
    memset(&created, 0, sizeof created);
    *ctx = &created;
    return 0;
}

static void test_attach_creates_and_cleans_up(void **state)
{
    (void)state;
    struct dev_model m = com;
    m.create = fake_create;
    struct devices t = {0};
    char err[256];
    assert_int_equal(devices_attach(&t, &m, NULL, err, sizeof err), 0);
    assert_ptr_equal(devices_find(&t, DEV_PIO, 0x3f9)->ctx, &created);
    /* The second instance is refused (same ports) and its state destroyed again. */
    assert_int_equal(devices_attach(&t, &m, NULL, err, sizeof err), -1);
    assert_int_equal(created.destroyed, 1);
    assert_int_equal(t.n, 1);
}

static void test_model_ports(void **state)
{
    (void)state;
    const struct dev_model *const models[] = {&com, &nic};
    struct policy_port_owner out[4];
    assert_int_equal(devices_model_ports(models, 2, out, 4), 2); /* nic's MMIO is no port */
    assert_int_equal(out[0].first, 0x3f8);
    assert_int_equal(out[0].last, 0x3ff);
    assert_string_equal(out[0].owner, "com");
    assert_int_equal(out[1].first, 0xc000);
    assert_string_equal(out[1].owner, "nic");
    assert_int_equal(devices_model_ports(models, 2, out, 1), 2); /* counted, not written */
}

/* hv's board: its devices fit one table, and reserve what policy_fixture.h assumes. */
static void test_board(void **state)
{
    (void)state;
    struct vm_config cfg = {0};
    struct devices t = {0};
    char err[256];
    board_devices(&cfg);
    for (uint32_t i = 0; i < cfg.ndevices; i++)
        assert_int_equal(devices_register(&t, cfg.devices[i], NULL, err, sizeof err), 0);
    struct policy_port_owner out[8];
    assert_int_equal(board_reserved_ports(out, 8), 3);
    static const struct policy_port_owner want[] = {
        {0x700, 0x71f, "hypercall"}, {0x3f8, 0x3ff, "uart"}, {0x505, 0x505, "pvpanic"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].first, want[i].first);
        assert_int_equal(out[i].last, want[i].last);
        assert_string_equal(out[i].owner, want[i].owner);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_find),
        cmocka_unit_test(test_overlap_is_refused),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_reset_input_destroy),
        cmocka_unit_test(test_attach_creates_and_cleans_up),
        cmocka_unit_test(test_model_ports),
        cmocka_unit_test(test_board),
        cmocka_unit_test(test_release_and_boot_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
