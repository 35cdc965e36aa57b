/* test_virtio_mmio.c: the virtio-mmio register file as Linux's virtio_mmio driver drives it. */
#include "virtio_fixture.h"

#include "devices/virtio_mmio.h"
#include "devices/virtio_net.h"

#define QSIZE 16

struct t {
    struct guest_mem m;
    struct drv q[2];
    struct virtio_net n;
    struct virtio_mmio mmio;
    bool level;
    unsigned raises, frames, errors, notifies;
    size_t sent_len;
};

static void be_send(void *ctx, const struct iovec *iov, unsigned n)
{
    struct t *t = ctx;
    t->frames++;
    t->sent_len = 0;
    for (unsigned i = 0; i < n; i++)
        t->sent_len += iov[i].iov_len;
}

static const struct net_backend_ops backend = {.send = be_send};

static void irq(void *ctx, bool level)
{
    struct t *t = ctx;
    assert_int_not_equal(level, t->level); /* only edges are reported */
    t->level = level;
    t->raises += level;
}

static void notify(void *ctx)
{
    ((struct t *)ctx)->notifies++;
}

static void on_error(void *ctx, const char *reason)
{
    struct t *t = ctx;
    (void)reason;
    t->errors++;
}

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->m = ram_new();
    t->q[0] = drv_at(&t->m, QSIZE, 0);
    t->q[1] = drv_at(&t->m, QSIZE, 1);
    static const struct virtio_net_params p = {{2, 0, 0, 0, 0, 1}, 0};
    virtio_net_init(&t->n, &p, &t->m, &backend, t);
    virtio_set_error_handler(&t->n.dev, on_error, t);
    virtio_mmio_init(&t->mmio, &t->n.dev, irq, t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    free(t->m.base);
    free(t);
    return 0;
}

static uint32_t rd(struct t *t, uint64_t off)
{
    return (uint32_t)virtio_mmio_read(&t->mmio, off, 4);
}

static void wr(struct t *t, uint64_t off, uint32_t v)
{
    virtio_mmio_write(&t->mmio, off, 4, v);
}

static void wr64(struct t *t, uint64_t lo_off, uint64_t v)
{
    wr(t, lo_off, (uint32_t)v);
    wr(t, lo_off + 4, (uint32_t)(v >> 32));
}

/* Linux's virtio_mmio probe, virtio core and vm_setup_vq, in order. */
static void driver_probe(struct t *t)
{
    assert_int_equal(rd(t, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
    assert_int_equal(rd(t, VIRTIO_MMIO_VERSION), 2);
    assert_int_equal(rd(t, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
    assert_int_equal(rd(t, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
    wr(t, VIRTIO_MMIO_STATUS, 0);
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);

    wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t f = (uint64_t)rd(t, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    f |= rd(t, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_true(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
    assert_true(f & VIRTIO_BIT(VIRTIO_NET_F_MAC));
    assert_true(f & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
    assert_false(f & VIRTIO_BIT(VIRTIO_NET_F_MTU)); /* mtu 0: not offered */
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
    wr(t, VIRTIO_MMIO_STATUS,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);

    for (unsigned q = 0; q < 2; q++) {
        wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
        assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
        assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_NUM_MAX), VNET_QUEUE_SIZE);
        wr(t, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
        wr64(t, VIRTIO_MMIO_QUEUE_DESC_LOW, t->q[q].desc);
        wr64(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, t->q[q].avail);
        wr64(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, t->q[q].used);
        wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 1);
    }
    wr(t, VIRTIO_MMIO_STATUS,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
           VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(rd(t, VIRTIO_MMIO_STATUS), 0x0f);
}

static void send_frame(struct t *t, uint16_t head, uint32_t len)
{
    set_desc(&t->m, t->q[1].desc, head, BUF_GPA, len, 0, 0);
    drv_add(&t->q[1], head);
}

static void test_driver_sequence(void **state)
{
    struct t *t = *state;
    driver_probe(t);
    assert_int_equal(t->n.dev.vq[1].size, QSIZE);
    assert_int_equal(t->n.dev.vq[1].used_gpa, t->q[1].used);

    /* Notify by MMIO write: the frame goes out, the used interrupt rises. */
    send_frame(t, 0, 12 + 64);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
    assert_int_equal(t->frames, 1);
    assert_int_equal(t->sent_len, 64);
    assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
    assert_true(t->level);
    wr(t, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_false(t->level);

    /* The ioeventfd path: the owner calls the core directly, with the same effect.  (Event
     * index was negotiated: the driver asks for the next interrupt as Linux does.) */
    set_used_event(&t->q[1], 1);
    send_frame(t, 1, 12 + 100);
    virtio_queue_notify(&t->n.dev, VNET_TXQ);
    assert_int_equal(t->frames, 2);
    assert_int_equal(t->sent_len, 100);
    assert_true(t->level);
    assert_int_equal(t->errors, 0);
}

/* notify reports every interrupt the device asks for, also while the line stays high (the
 * driver has not acknowledged the first): a WAITing driver needs each one to wake. */
static void test_notify_every_interrupt(void **state)
{
    struct t *t = *state;
    t->mmio.notify = notify;
    driver_probe(t);
    send_frame(t, 0, 12 + 64);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
    assert_int_equal(t->notifies, 1);
    set_used_event(&t->q[1], 1); /* the driver asks for the next one */
    send_frame(t, 1, 12 + 64);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
    assert_int_equal(t->notifies, 2);
    assert_int_equal(t->raises, 1); /* one edge: the line never fell */
    virtio_net_set_link(&t->n, false);
    assert_int_equal(t->notifies, 3); /* config change */
    assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS),
                     VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
}

static void test_config_space(void **state)
{
    struct t *t = *state;
    driver_probe(t);
    uint8_t mac[6];
    for (unsigned i = 0; i < 6; i++)
        mac[i] = (uint8_t)virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG + i, 1);
    static const uint8_t want[6] = {2, 0, 0, 0, 0, 1};
    assert_memory_equal(mac, want, 6);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG + 6, 2), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG, 4), 0x00000002);
    /* Past the end, or odd widths: 0. */
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG + 10, 4), 0);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG + 0x1000, 1), 0);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG, 3), 0);
    /* Read-only: a write changes nothing. */
    virtio_mmio_write(&t->mmio, VIRTIO_MMIO_CONFIG, 1, 0xff);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG, 1), 2);

    uint32_t gen = rd(t, VIRTIO_MMIO_CONFIG_GENERATION);
    virtio_net_set_link(&t->n, false);
    assert_int_equal(rd(t, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
    assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_CONFIG + 6, 2), 0);
}

static void test_odd_accesses(void **state)
{
    struct t *t = *state;
    /* Registers take aligned 32-bit accesses only. */
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_MAGIC_VALUE, 2), 0);
    assert_int_equal(virtio_mmio_read(&t->mmio, VIRTIO_MMIO_MAGIC_VALUE + 1, 4), 0);
    assert_int_equal(virtio_mmio_read(&t->mmio, 0x0f0, 4), 0); /* reserved */
    assert_int_equal(rd(t, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
    virtio_mmio_write(&t->mmio, VIRTIO_MMIO_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
    assert_int_equal(rd(t, VIRTIO_MMIO_STATUS), 0);
    /* A queue that does not exist has no maximum and takes no setup. */
    wr(t, VIRTIO_MMIO_QUEUE_SEL, 7);
    assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    wr(t, VIRTIO_MMIO_QUEUE_NUM, 16);
    wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
    /* Feature words past 1 read 0 and take nothing. */
    wr(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 5);
    assert_int_equal(rd(t, VIRTIO_MMIO_DEVICE_FEATURES), 0);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 5);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
    assert_int_equal(t->n.dev.driver_features, 0);
    assert_int_equal(t->errors, 0);
}

static void test_live_queue_layout_is_fixed(void **state)
{
    struct t *t = *state;
    driver_probe(t);
    wr(t, VIRTIO_MMIO_QUEUE_SEL, 1);
    wr(t, VIRTIO_MMIO_QUEUE_NUM, 4);
    wr64(t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0xdead0000);
    assert_int_equal(t->n.dev.vq[1].size, QSIZE);
    assert_int_equal(t->n.dev.vq[1].desc_gpa, t->q[1].desc);
}

static void test_needs_reset_and_recovery(void **state)
{
    struct t *t = *state;
    driver_probe(t);
    /* A chain with an address past RAM. */
    set_desc(&t->m, t->q[1].desc, 0, RAM_SIZE, 64, 0, 0);
    drv_add(&t->q[1], 0);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
    assert_int_equal(t->errors, 1);
    assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
    assert_true(t->level);
    /* The driver cannot clear NEEDS_RESET but by a reset. */
    wr(t, VIRTIO_MMIO_STATUS, 0x0f);
    assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    wr(t, VIRTIO_MMIO_STATUS, 0x100); /* the low byte is 0: a reset, of the transport too */
    assert_int_equal(rd(t, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(rd(t, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_false(t->level);
    wr(t, VIRTIO_MMIO_QUEUE_SEL, 1);
    assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);

    /* The driver starts over with fresh rings. */
    memset(t->m.base + t->q[1].avail, 0, 0x2000);
    driver_probe(t);
    send_frame(t, 0, 12 + 20);
    wr(t, VIRTIO_MMIO_QUEUE_NOTIFY, VNET_TXQ);
    assert_int_equal(t->frames, 1);
    assert_int_equal(t->errors, 1);
}

static void test_bad_queue_setup(void **state)
{
    struct t *t = *state;
    wr(t, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(t, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wr(t, VIRTIO_MMIO_STATUS, 0x0b);
    wr(t, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(t, VIRTIO_MMIO_QUEUE_NUM, 100); /* not a power of two */
    wr64(t, VIRTIO_MMIO_QUEUE_DESC_LOW, t->q[0].desc);
    wr64(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, t->q[0].avail);
    wr64(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, t->q[0].used);
    wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(rd(t, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(rd(t, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_non_null(strstr(t->n.dev.error, "queue 0: queue size 100 is not a power of two"));
    /* Before DRIVER_OK there is no config interrupt to send. */
    assert_false(t->level);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_driver_sequence),
        T(test_notify_every_interrupt),
        T(test_config_space),
        T(test_odd_accesses),
        T(test_live_queue_layout_is_fixed),
        T(test_needs_reset_and_recovery),
        T(test_bad_queue_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
