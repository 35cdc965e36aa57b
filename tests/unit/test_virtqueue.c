/* test_virtqueue.c: the split virtqueue against rings built by hand, good and malformed. */
#include "virtio_fixture.h"

#include <stdio.h>

#define QSIZE 16

struct t {
    struct guest_mem m;
    struct drv q;
    struct virtqueue vq;
    struct iovec iov[8];
    struct vq_chain c;
};

static int setup_with(void **state, bool event_idx, bool indirect)
{
    struct t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->m = ram_new();
    t->q = drv_at(&t->m, QSIZE, 0);
    vq_reset(&t->vq, 0);
    drv_layout(&t->q, &t->vq);
    if (vq_enable(&t->vq, &t->m, event_idx, indirect) < 0)
        return -1;
    t->c = (struct vq_chain){.iov = t->iov, .cap = 8};
    *state = t;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, false, true);
}

static int setup_event_idx(void **state)
{
    return setup_with(state, true, false);
}

static int teardown(void **state)
{
    struct t *t = *state;
    free(t->m.base);
    free(t);
    return 0;
}

/* A failed pop, with the reason containing `want`. */
static void expect_error(struct t *t, const char *want)
{
    assert_int_equal(vq_pop(&t->vq, &t->c), -1);
    if (!strstr(t->vq.error, want))
        fail_msg("error \"%s\" lacks \"%s\"", t->vq.error, want);
}

static void test_good_chain(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 3, BUF_GPA, 12, VIRTQ_DESC_F_NEXT, 7);
    set_desc(&t->m, DESC_GPA, 7, BUF_GPA + 100, 50, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&t->m, DESC_GPA, 1, BUF_GPA + 200, 1000, VIRTQ_DESC_F_WRITE, 0);
    assert_int_equal(vq_pop(&t->vq, &t->c), 0);
    drv_add(&t->q, 3);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(t->c.head, 3);
    assert_int_equal(t->c.nread, 2);
    assert_int_equal(t->c.nwrite, 1);
    assert_int_equal(t->c.read_len, 62);
    assert_int_equal(t->c.write_len, 1000);
    assert_ptr_equal(t->iov[0].iov_base, t->m.base + BUF_GPA);
    assert_int_equal(t->iov[1].iov_len, 50);
    assert_ptr_equal(t->iov[2].iov_base, t->m.base + BUF_GPA + 200);
    assert_int_equal(vq_pop(&t->vq, &t->c), 0);

    assert_int_equal(vq_push(&t->vq, 3, 77), 0);
    assert_int_equal(used_idx(&t->q), 1);
    assert_int_equal(used_id(&t->q, 0), 3);
    assert_int_equal(used_len(&t->q, 0), 77);
    /* Nothing is in flight any more. */
    assert_int_equal(vq_push(&t->vq, 3, 0), -1);
    assert_non_null(strstr(t->vq.error, "no chain in flight"));
}

static void test_zero_length_skipped(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 0, 0xdead0000, 0, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&t->m, DESC_GPA, 1, BUF_GPA, 8, 0, 0);
    drv_add(&t->q, 0);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(t->c.nread, 1);
    assert_int_equal(t->c.read_len, 8);
}

static void test_index_wraps(void **state)
{
    struct t *t = *state;
    /* The 16-bit indices run on past 65535. */
    t->vq.last_avail = t->vq.used_idx = 65535;
    put_le(t->m.base + USED_GPA + 2, 65535, 2);
    set_avail_idx(&t->q, 65535);
    set_desc(&t->m, DESC_GPA, 5, BUF_GPA, 8, 0, 0);
    drv_add(&t->q, 5);
    assert_int_equal(avail_idx(&t->q), 0);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(t->c.head, 5);
    assert_int_equal(vq_push(&t->vq, 5, 0), 0);
    assert_int_equal(used_idx(&t->q), 0);
    assert_int_equal(used_id(&t->q, 65535), 5);
}

static void test_out_of_range(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 7, RAM_SIZE - 100, 4096, 0, 0);
    drv_add(&t->q, 7);
    expect_error(t, "descriptor 7: address 0xfff9c + len 4096 is outside guest RAM");
}

static void test_address_wraps(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 0, 0xfffffffffffff000ull, 0x2000, 0, 0);
    drv_add(&t->q, 0);
    expect_error(t, "descriptor 0: address 0xfffffffffffff000 + len 8192 wraps around");
}

static void test_too_many_segments(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&t->m, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    drv_add(&t->q, 0);
    t->c.cap = 8;
    expect_error(t, "chain at head 0 has more than 8 segments");
}

static void test_loop_detected_by_length(void **state)
{
    struct t *t = *state;
    struct iovec big[64];
    t->c = (struct vq_chain){.iov = big, .cap = 64};
    set_desc(&t->m, DESC_GPA, 4, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 4); /* a self loop */
    drv_add(&t->q, 4);
    expect_error(t, "chain at head 4 longer than queue size 16 (loop?)");
}

static void test_longest_chain_allowed(void **state)
{
    struct t *t = *state;
    struct iovec big[QSIZE];
    t->c = (struct vq_chain){.iov = big, .cap = QSIZE};
    for (unsigned i = 0; i < QSIZE; i++)
        set_desc(&t->m, DESC_GPA, i, BUF_GPA + i, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0,
                 (uint16_t)(i + 1));
    drv_add(&t->q, 0);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(t->c.nread, QSIZE);
}

static void test_next_out_of_range(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 2, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
    drv_add(&t->q, 2);
    expect_error(t, "descriptor 2: next 16 >= queue size 16");
}

static void test_head_out_of_range(void **state)
{
    struct t *t = *state;
    drv_add(&t->q, 300);
    expect_error(t, "avail ring[0]: head 300 >= queue size 16");
}

static void test_avail_jump(void **state)
{
    struct t *t = *state;
    set_avail_idx(&t->q, 300);
    expect_error(t, "avail idx jumped by 300 > queue size 16");
}

static void test_read_after_write(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    set_desc(&t->m, DESC_GPA, 1, BUF_GPA, 8, 0, 0);
    drv_add(&t->q, 0);
    expect_error(t, "descriptor 1: device-readable buffer after a device-writable one");
}

static void test_unpop(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 9, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->q, 9);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    vq_unpop(&t->vq);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(t->c.head, 9);
}

#define ITABLE 0x8000u

static void test_indirect(void **state)
{
    struct t *t = *state;
    /* A plain descriptor, then one naming a table of three. */
    set_desc(&t->m, DESC_GPA, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 5);
    set_desc(&t->m, DESC_GPA, 5, ITABLE, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    set_desc(&t->m, ITABLE, 0, BUF_GPA + 10, 10, VIRTQ_DESC_F_NEXT, 2);
    set_desc(&t->m, ITABLE, 2, BUF_GPA + 20, 20, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&t->m, ITABLE, 1, BUF_GPA + 40, 30, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->q, 0);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(t->c.nread, 3);
    assert_int_equal(t->c.nwrite, 1);
    assert_int_equal(t->c.read_len, 34);
    assert_int_equal(t->c.write_len, 30);
    assert_ptr_equal(t->iov[2].iov_base, t->m.base + BUF_GPA + 20);
}

static void test_indirect_errors(void **state)
{
    struct t *t = *state;
    static const struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t e_flags, e_next; /* entry 0 of the table */
        const char *want;
    } cases[] = {
        {ITABLE, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 0, 0, "both INDIRECT and NEXT"},
        {ITABLE, 20, VIRTQ_DESC_F_INDIRECT, 0, 0, "length 20 is not a nonzero multiple of 16"},
        {ITABLE, 0, VIRTQ_DESC_F_INDIRECT, 0, 0, "length 0 is not a nonzero multiple"},
        {ITABLE, 16 * 2000, VIRTQ_DESC_F_INDIRECT, 0, 0, "table of 2000 entries > 1024"},
        {RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0, 0,
         "indirect table 0xffff0 + len 32 is "
         "outside guest RAM"},
        {ITABLE, 32, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_INDIRECT, 0,
         "descriptor 0, indirect entry 0: an indirect table inside an indirect table"},
        {ITABLE, 32, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, 2,
         "descriptor 0, indirect entry 0: next 2 >= indirect table entries 2"},
        {ITABLE, 32, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, 0,
         "indirect table of descriptor 0: chain longer than its 2 entries (loop?)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vq_reset(&t->vq, 0);
        drv_layout(&t->q, &t->vq);
        assert_int_equal(vq_enable(&t->vq, &t->m, false, true), 0);
        set_avail_idx(&t->q, 0);
        set_desc(&t->m, DESC_GPA, 0, cases[i].addr, cases[i].len, cases[i].flags, 0);
        set_desc(&t->m, ITABLE, 0, BUF_GPA, 8, cases[i].e_flags, cases[i].e_next);
        set_desc(&t->m, ITABLE, 1, BUF_GPA, 8, 0, 0);
        drv_add(&t->q, 0);
        expect_error(t, cases[i].want);
    }
}

static void test_indirect_not_negotiated(void **state)
{
    struct t *t = *state;
    set_desc(&t->m, DESC_GPA, 0, ITABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    drv_add(&t->q, 0);
    expect_error(t, "descriptor 0: indirect table but VIRTIO_F_INDIRECT_DESC not negotiated");
}

static void test_enable_checks(void **state)
{
    struct t *t = *state;
    static const struct {
        uint16_t size;
        uint64_t desc, avail, used;
        const char *want;
    } cases[] = {
        {12, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 12 is not a power of two"},
        {0, DESC_GPA, AVAIL_GPA, USED_GPA, "queue size 0 is not a power of two"},
        {16, DESC_GPA + 8, AVAIL_GPA, USED_GPA, "descriptor table at 0x1008 is not 16-byte"},
        {16, DESC_GPA, AVAIL_GPA + 1, USED_GPA, "avail ring at 0x2001 is not 2-byte aligned"},
        {16, DESC_GPA, AVAIL_GPA, USED_GPA + 2, "used ring at 0x3002 is not 4-byte aligned"},
        {16, RAM_SIZE - 128, AVAIL_GPA, USED_GPA, "descriptor table 0xfff80 + 256 is outside"},
        {16, DESC_GPA, RAM_SIZE - 8, USED_GPA, "avail ring 0xffff8 + 38 is outside guest RAM"},
        {16, DESC_GPA, AVAIL_GPA, ~0ull & ~3ull, "used ring 0xfffffffffffffffc + 134 is outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vq_reset(&t->vq, cases[i].size);
        t->vq.desc_gpa = cases[i].desc;
        t->vq.avail_gpa = cases[i].avail;
        t->vq.used_gpa = cases[i].used;
        assert_int_equal(vq_enable(&t->vq, &t->m, false, false), -1);
        assert_false(t->vq.ready);
        if (!strstr(t->vq.error, cases[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, t->vq.error, cases[i].want);
        /* A queue that failed to start takes no chains. */
        assert_int_equal(vq_pop(&t->vq, &t->c), 0);
    }
}

/* may_write: everything below 0x3000 is read-only, as a protected range would be. */
static bool below_3000_ro(void *ctx, uint64_t gpa, uint64_t len)
{
    (void)ctx;
    (void)len;
    return gpa >= 0x3000;
}

static void test_protected_memory(void **state)
{
    struct t *t = *state;
    t->m.may_write = below_3000_ro;
    set_desc(&t->m, DESC_GPA, 0, 0x2800, 16, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->q, 0);
    expect_error(t, "descriptor 0: writable buffer 0x2800 + len 16 is in memory the guest may "
                    "not write");
    vq_reset(&t->vq, QSIZE);
    t->vq.desc_gpa = DESC_GPA;
    t->vq.avail_gpa = AVAIL_GPA;
    t->vq.used_gpa = 0x2000 + 0x800;
    assert_int_equal(vq_enable(&t->vq, &t->m, false, false), -1);
    assert_non_null(strstr(t->vq.error, "used ring 0x2800 + 134 is in memory the guest may not"));
}

static void test_need_event(void **state)
{
    (void)state;
    /* used_event 0: the first buffer interrupts, the second does not. */
    assert_true(vring_need_event(0, 1, 0));
    assert_false(vring_need_event(0, 2, 1));
    /* A batch that passes the event index interrupts; one short of it does not. */
    assert_true(vring_need_event(5, 8, 3));
    assert_false(vring_need_event(8, 8, 3));
    /* Across the 16-bit wrap. */
    assert_true(vring_need_event(65535, 2, 65530));
    assert_false(vring_need_event(3, 2, 65530));
}

static void push_one(struct t *t, uint16_t head)
{
    set_desc(&t->m, DESC_GPA, head, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->q, head);
    assert_int_equal(vq_pop(&t->vq, &t->c), 1);
    assert_int_equal(vq_push(&t->vq, head, 8), 0);
}

static void test_event_idx_suppression(void **state)
{
    struct t *t = *state;
    set_used_event(&t->q, 0);
    push_one(t, 0);
    assert_true(vq_need_interrupt(&t->vq)); /* used idx reached used_event + 1 */
    push_one(t, 1);
    assert_false(vq_need_interrupt(&t->vq)); /* the driver asked for nothing more */
    set_used_event(&t->q, 3);
    push_one(t, 2);
    assert_false(vq_need_interrupt(&t->vq));
    push_one(t, 3);
    push_one(t, 4);
    assert_true(vq_need_interrupt(&t->vq));  /* the batch passed entry 3 */
    assert_false(vq_need_interrupt(&t->vq)); /* and nothing new since */

    /* Device side: avail_event follows the device when it asks for notifications. */
    assert_false(vq_enable_notify(&t->vq));
    assert_int_equal(avail_event(&t->q), 5);
    drv_add(&t->q, 0);
    vq_disable_notify(&t->vq);
    assert_int_equal(get_le(t->m.base + USED_GPA, 2), 0); /* flags stay 0 with event idx */
    assert_true(vq_enable_notify(&t->vq));                /* a buffer came meanwhile */
}

static void test_flag_suppression(void **state)
{
    struct t *t = *state;
    push_one(t, 0);
    assert_true(vq_need_interrupt(&t->vq));
    put_le(t->m.base + AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT, 2);
    push_one(t, 1);
    assert_false(vq_need_interrupt(&t->vq));
    vq_disable_notify(&t->vq);
    assert_int_equal(get_le(t->m.base + USED_GPA, 2), VIRTQ_USED_F_NO_NOTIFY);
    assert_false(vq_enable_notify(&t->vq));
    assert_int_equal(get_le(t->m.base + USED_GPA, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_length_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_address_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_detected_by_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_chain_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avail_jump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_after_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_not_negotiated, setup_event_idx, teardown),
        cmocka_unit_test_setup_teardown(test_enable_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protected_memory, setup, teardown),
        cmocka_unit_test(test_need_event),
        cmocka_unit_test_setup_teardown(test_event_idx_suppression, setup_event_idx, teardown),
        cmocka_unit_test_setup_teardown(test_flag_suppression, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
