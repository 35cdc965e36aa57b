/* test_virtio_net.c: the virtio-net core driven as a driver would, with a recording backend. */
#include "virtio_fixture.h"

#include "devices/virtio_net.h"

#include <stdio.h>

#define QSIZE 16
#define FEAT_BASE                                                                                  \
    (VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |                               \
     VIRTIO_BIT(VIRTIO_NET_F_STATUS))
#define FEAT_ALL (FEAT_BASE | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

struct t {
    struct guest_mem m;
    struct drv rx, tx;
    struct virtio_net n;
    /* the backend */
    uint8_t sent[VNET_FRAME_MAX + 16];
    size_t sent_len;
    unsigned frames, rx_ready;
    bool loopback, recycle;
    /* the transport and the owner */
    unsigned used_notifies[2], config_notifies, errors;
    char reason[256];
};

static void be_send(void *ctx, const struct iovec *iov, unsigned n)
{
    struct t *t = ctx;
    t->sent_len = 0;
    for (unsigned i = 0; i < n; i++) {
        assert_true(t->sent_len + iov[i].iov_len <= sizeof t->sent);
        memcpy(t->sent + t->sent_len, iov[i].iov_base, iov[i].iov_len);
        t->sent_len += iov[i].iov_len;
    }
    t->frames++;
    if (t->loopback)
        virtio_net_receive(&t->n, t->sent, t->sent_len);
    if (t->recycle) /* a driver that refills as fast as we send */
        drv_add(&t->tx, 0);
}

static void be_rx_ready(void *ctx)
{
    struct t *t = ctx;
    t->rx_ready++;
}

static const struct net_backend_ops backend = {.send = be_send, .rx_ready = be_rx_ready};

static void tr_used(void *ctx, unsigned q)
{
    struct t *t = ctx;
    assert_true(q < 2);
    t->used_notifies[q]++;
}

static void tr_config(void *ctx)
{
    struct t *t = ctx;
    t->config_notifies++;
}

static const struct virtio_transport_ops transport = {.used_notify = tr_used,
                                                      .config_notify = tr_config};

static void on_error(void *ctx, const char *reason)
{
    struct t *t = ctx;
    t->errors++;
    snprintf(t->reason, sizeof t->reason, "%s", reason);
}

static const struct virtio_net_params params = {{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}, 1500};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->m = ram_new();
    t->rx = drv_at(&t->m, QSIZE, 0);
    t->tx = drv_at(&t->m, QSIZE, 1);
    virtio_net_init(&t->n, &params, &t->m, &backend, t);
    virtio_set_transport(&t->n.dev, &transport, t);
    virtio_set_error_handler(&t->n.dev, on_error, t);
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

#define S_ACK  VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV  VIRTIO_STATUS_DRIVER
#define S_FOK  VIRTIO_STATUS_FEATURES_OK
#define S_DOK  VIRTIO_STATUS_DRIVER_OK
#define S_NEED VIRTIO_STATUS_NEEDS_RESET

static void negotiate(struct t *t, uint64_t features)
{
    struct virtio_dev *d = &t->n.dev;
    virtio_set_status(d, S_ACK);
    virtio_set_status(d, S_ACK | S_DRV);
    virtio_set_driver_features(d, 0, (uint32_t)features);
    virtio_set_driver_features(d, 1, (uint32_t)(features >> 32));
    virtio_set_status(d, S_ACK | S_DRV | S_FOK);
}

static void queues(struct t *t)
{
    struct virtio_dev *d = &t->n.dev;
    drv_layout(&t->rx, &d->vq[VNET_RXQ]);
    drv_layout(&t->tx, &d->vq[VNET_TXQ]);
    virtio_queue_set_ready(d, VNET_RXQ, true);
    virtio_queue_set_ready(d, VNET_TXQ, true);
    assert_true(d->vq[VNET_RXQ].ready && d->vq[VNET_TXQ].ready);
}

/* The whole bring-up a driver does (spec 3.1.1). */
static void up(struct t *t, uint64_t features)
{
    negotiate(t, features);
    assert_int_equal(t->n.dev.status, S_ACK | S_DRV | S_FOK);
    queues(t);
    virtio_set_status(&t->n.dev, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_true(virtio_live(&t->n.dev));
}

static void fill(struct t *t, uint64_t gpa, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        t->m.base[gpa + i] = (uint8_t)(seed + i * 7);
}

static void expect_reset(struct t *t, const char *want)
{
    assert_true(t->n.dev.status & S_NEED);
    assert_false(virtio_live(&t->n.dev));
    assert_int_equal(t->errors, 1);
    if (!strstr(t->reason, want))
        fail_msg("reason \"%s\" lacks \"%s\"", t->reason, want);
}

static void test_config(void **state)
{
    struct t *t = *state;
    struct virtio_dev *d = &t->n.dev;
    assert_int_equal(d->device_id, VIRTIO_ID_NET);
    assert_int_equal(d->device_features, FEAT_ALL | VIRTIO_BIT(VIRTIO_NET_F_MTU));
    assert_memory_equal(d->config, params.mac, 6);
    assert_int_equal(get_le(d->config + 6, 2), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(get_le(d->config + 8, 2), 1);
    assert_int_equal(get_le(d->config + 10, 2), 1500);
    assert_int_equal(d->config_size, 12);

    up(t, FEAT_BASE);
    uint32_t gen = d->config_generation;
    virtio_net_set_link(&t->n, false);
    assert_int_equal(get_le(d->config + 6, 2), 0);
    assert_int_equal(d->config_generation, gen + 1);
    assert_int_equal(t->config_notifies, 1);
    virtio_net_set_link(&t->n, false); /* no change, no notification */
    assert_int_equal(t->config_notifies, 1);
}

static void test_negotiation(void **state)
{
    struct t *t = *state;
    struct virtio_dev *d = &t->n.dev;
    /* Legacy drivers (no VERSION_1) are refused: FEATURES_OK does not stick. */
    negotiate(t, VIRTIO_BIT(VIRTIO_NET_F_MAC));
    assert_int_equal(d->status, S_ACK | S_DRV);
    virtio_set_status(d, 0);
    /* So is a feature the device did not offer (CSUM, bit 0). */
    negotiate(t, FEAT_BASE | 1);
    assert_int_equal(d->status, S_ACK | S_DRV);
    virtio_set_status(d, 0);
    assert_int_equal(d->status, 0);
    assert_int_equal(d->driver_features, 0);
    /* A subset is fine, and fixed from FEATURES_OK on. */
    negotiate(t, FEAT_BASE);
    assert_int_equal(d->status, S_ACK | S_DRV | S_FOK);
    virtio_set_driver_features(d, 0, 0);
    assert_int_equal(d->driver_features, FEAT_BASE);
    assert_false(virtio_has_feature(d, VIRTIO_F_EVENT_IDX));
    assert_int_equal(t->errors, 0);
}

static void test_driver_ok_without_features_ok(void **state)
{
    struct t *t = *state;
    virtio_set_status(&t->n.dev, S_ACK | S_DRV | S_DOK);
    expect_reset(t, "virtio-net: DRIVER_OK without FEATURES_OK");
}

static void test_queue_before_features_ok(void **state)
{
    struct t *t = *state;
    virtio_set_status(&t->n.dev, S_ACK | S_DRV);
    drv_layout(&t->tx, &t->n.dev.vq[VNET_TXQ]);
    virtio_queue_set_ready(&t->n.dev, VNET_TXQ, true);
    expect_reset(t, "queue 1 made ready before FEATURES_OK");
}

static void test_bad_queue_layout(void **state)
{
    struct t *t = *state;
    struct virtio_dev *d = &t->n.dev;
    negotiate(t, FEAT_ALL);
    drv_layout(&t->tx, &d->vq[VNET_TXQ]);
    d->vq[VNET_TXQ].desc_gpa = RAM_SIZE;
    virtio_queue_set_ready(d, VNET_TXQ, true);
    expect_reset(t, "virtio-net: queue 1: descriptor table 0x100000 + 256 is outside guest RAM");
    assert_false(d->vq[VNET_TXQ].ready);
    /* Too large for the device. */
    virtio_set_status(d, 0);
    t->errors = 0;
    negotiate(t, FEAT_ALL);
    drv_layout(&t->tx, &d->vq[VNET_TXQ]);
    d->vq[VNET_TXQ].size = 512;
    virtio_queue_set_ready(d, VNET_TXQ, true);
    expect_reset(t, "queue 1: size 512 > maximum 256");
}

static void test_tx_byte_exact(void **state)
{
    struct t *t = *state;
    up(t, FEAT_ALL);
    /* Header alone, then the frame in two pieces. */
    fill(t, BUF_GPA, 12, 0);
    fill(t, BUF_GPA + 0x100, 20, 1);
    fill(t, BUF_GPA + 0x200, 40, 21);
    set_desc(&t->m, t->tx.desc, 0, BUF_GPA, 12, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&t->m, t->tx.desc, 1, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_NEXT, 2);
    set_desc(&t->m, t->tx.desc, 2, BUF_GPA + 0x200, 40, 0, 0);
    drv_add(&t->tx, 0);
    assert_false(virtio_queue_notify(&t->n.dev, VNET_TXQ));
    assert_int_equal(t->frames, 1);
    assert_int_equal(t->sent_len, 60);
    assert_memory_equal(t->sent, t->m.base + BUF_GPA + 0x100, 20);
    assert_memory_equal(t->sent + 20, t->m.base + BUF_GPA + 0x200, 40);
    assert_int_equal(used_idx(&t->tx), 1);
    assert_int_equal(used_id(&t->tx, 0), 0);
    assert_int_equal(used_len(&t->tx, 0), 0);
    assert_int_equal(t->used_notifies[VNET_TXQ], 1);
    assert_int_equal(t->n.stats.tx_frames, 1);
    assert_int_equal(t->n.stats.tx_bytes, 60);

    /* Header and frame sharing segments (ANY_LAYOUT): 5 + 7 header bytes, frame 3 + 20. */
    fill(t, BUF_GPA + 0x400, 5, 50);
    fill(t, BUF_GPA + 0x500, 10, 60);
    fill(t, BUF_GPA + 0x600, 20, 80);
    set_desc(&t->m, t->tx.desc, 3, BUF_GPA + 0x400, 5, VIRTQ_DESC_F_NEXT, 4);
    set_desc(&t->m, t->tx.desc, 4, BUF_GPA + 0x500, 10, VIRTQ_DESC_F_NEXT, 5);
    set_desc(&t->m, t->tx.desc, 5, BUF_GPA + 0x600, 20, 0, 0);
    drv_add(&t->tx, 3);
    virtio_queue_notify(&t->n.dev, VNET_TXQ);
    assert_int_equal(t->frames, 2);
    assert_int_equal(t->sent_len, 23);
    assert_memory_equal(t->sent, t->m.base + BUF_GPA + 0x500 + 7, 3);
    assert_memory_equal(t->sent + 3, t->m.base + BUF_GPA + 0x600, 20);
    assert_int_equal(t->errors, 0);
}

static void test_tx_indirect(void **state)
{
    struct t *t = *state;
    up(t, FEAT_ALL);
    fill(t, BUF_GPA, 100, 9);
    set_desc(&t->m, 0x9000, 0, BUF_GPA, 12, VIRTQ_DESC_F_NEXT, 1);
    set_desc(&t->m, 0x9000, 1, BUF_GPA + 12, 88, 0, 0);
    set_desc(&t->m, t->tx.desc, 6, 0x9000, 32, VIRTQ_DESC_F_INDIRECT, 0);
    drv_add(&t->tx, 6);
    virtio_queue_notify(&t->n.dev, VNET_TXQ);
    assert_int_equal(t->sent_len, 88);
    assert_memory_equal(t->sent, t->m.base + BUF_GPA + 12, 88);
    assert_int_equal(used_id(&t->tx, 0), 6);
}

static void test_tx_malformed(void **state)
{
    struct t *t = *state;
    static const struct {
        uint32_t len;
        uint16_t flags;
        const char *want;
    } cases[] = {
        {8, 0, "virtio-net: queue 1 (tx): chain at head 0 is 8 bytes, outside 12..65562"},
        {VNET_CHAIN_MAX + 1, 0, "chain at head 0 is 65563 bytes, outside 12..65562"},
        {64, VIRTQ_DESC_F_WRITE, "queue 1 (tx): chain at head 0 has device-writable buffers"},
        {64, VIRTQ_DESC_F_NEXT, "queue 1 (tx): chain at head 0 longer than queue size 16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t->errors = 0;
        t->config_notifies = 0;
        virtio_set_status(&t->n.dev, 0);
        set_avail_idx(&t->tx, 0);
        up(t, FEAT_ALL);
        set_desc(&t->m, t->tx.desc, 0, BUF_GPA, cases[i].len, cases[i].flags, 0);
        drv_add(&t->tx, 0);
        assert_false(virtio_queue_notify(&t->n.dev, VNET_TXQ));
        expect_reset(t, cases[i].want);
        /* The driver hears of it by a config change; nothing reaches the backend. */
        assert_int_equal(t->config_notifies, 1);
        assert_int_equal(t->frames, 0);
        /* A dead device ignores further notifications. */
        drv_add(&t->tx, 0);
        virtio_queue_notify(&t->n.dev, VNET_TXQ);
        assert_int_equal(t->errors, 1);
    }
    /* After a reset it works again. */
    virtio_set_status(&t->n.dev, 0);
    assert_int_equal(t->n.dev.status, 0);
    assert_int_equal(t->n.dev.error[0], '\0');
    set_avail_idx(&t->tx, 0);
    up(t, FEAT_ALL);
    set_desc(&t->m, t->tx.desc, 0, BUF_GPA, 40, 0, 0);
    drv_add(&t->tx, 0);
    virtio_queue_notify(&t->n.dev, VNET_TXQ);
    assert_int_equal(t->frames, 1);
    assert_int_equal(t->sent_len, 28);
}

static void test_tx_budget(void **state)
{
    struct t *t = *state;
    up(t, FEAT_ALL);
    t->recycle = true;
    set_desc(&t->m, t->tx.desc, 0, BUF_GPA, 60, 0, 0);
    drv_add(&t->tx, 0);
    /* An endless stream: the device yields after its budget and says so. */
    assert_true(virtio_queue_notify(&t->n.dev, VNET_TXQ));
    assert_int_equal(t->frames, VNET_TX_BUDGET);
    assert_int_equal(t->n.dev.more_work, 1u << VNET_TXQ);
    t->recycle = false;
    assert_false(virtio_queue_notify(&t->n.dev, VNET_TXQ));
    assert_int_equal(t->frames, VNET_TX_BUDGET + 1);
    assert_int_equal(t->n.dev.more_work, 0);
    assert_int_equal(t->errors, 0);
}

static void test_notify_before_driver_ok(void **state)
{
    struct t *t = *state;
    negotiate(t, FEAT_ALL);
    queues(t);
    set_desc(&t->m, t->tx.desc, 0, BUF_GPA, 40, 0, 0);
    drv_add(&t->tx, 0);
    virtio_queue_notify(&t->n.dev, VNET_TXQ);
    assert_int_equal(t->frames, 0); /* not before DRIVER_OK */
    virtio_set_status(&t->n.dev, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(t->frames, 1); /* DRIVER_OK looks at the queues */
}

static void post_rx(struct t *t, uint16_t head, uint32_t len)
{
    set_desc(&t->m, t->rx.desc, head, BUF_GPA + 0x1000u * head, len, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->rx, head);
}

static void test_rx_delivery(void **state)
{
    struct t *t = *state;
    uint8_t frame[60];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (uint8_t)(i * 3 + 1);
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_NOT_READY);
    up(t, FEAT_BASE);
    memset(t->m.base + BUF_GPA, 0xee, 2048);
    post_rx(t, 0, 2048);
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_DELIVERED);
    assert_int_equal(used_idx(&t->rx), 1);
    assert_int_equal(used_id(&t->rx, 0), 0);
    assert_int_equal(used_len(&t->rx, 0), 72);
    static const uint8_t hdr[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    assert_memory_equal(t->m.base + BUF_GPA, hdr, 12);
    assert_memory_equal(t->m.base + BUF_GPA + 12, frame, sizeof frame);
    assert_int_equal(t->m.base[BUF_GPA + 72], 0xee); /* nothing past the frame */
    assert_int_equal(t->used_notifies[VNET_RXQ], 1);

    /* Header and frame in separate buffers, the frame split again. */
    set_desc(&t->m, t->rx.desc, 1, BUF_GPA + 0x1000, 12, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    set_desc(&t->m, t->rx.desc, 2, BUF_GPA + 0x2000, 50, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    set_desc(&t->m, t->rx.desc, 3, BUF_GPA + 0x3000, 50, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->rx, 1);
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_DELIVERED);
    assert_memory_equal(t->m.base + BUF_GPA + 0x1000, hdr, 12);
    assert_memory_equal(t->m.base + BUF_GPA + 0x2000, frame, 50);
    assert_memory_equal(t->m.base + BUF_GPA + 0x3000, frame + 50, 10);
    assert_int_equal(used_len(&t->rx, 1), 72);
    assert_int_equal(t->n.stats.rx_frames, 2);
}

static void test_rx_no_buffer(void **state)
{
    struct t *t = *state;
    up(t, FEAT_ALL);
    t->rx_ready = 0; /* (DRIVER_OK looked at the queues once) */
    uint8_t frame[64] = {1};
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_NO_BUFFER);
    assert_int_equal(t->n.stats.rx_no_buffer, 1);
    assert_int_equal(avail_event(&t->rx), 0); /* notify me at the next buffer */
    post_rx(t, 0, 2048);
    virtio_queue_notify(&t->n.dev, VNET_RXQ);
    assert_int_equal(t->rx_ready, 1);
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_DELIVERED);
}

static void test_rx_too_big(void **state)
{
    struct t *t = *state;
    up(t, FEAT_ALL | VIRTIO_BIT(VIRTIO_NET_F_MTU));
    static uint8_t frame[2000];
    /* The MTU bounds what the driver is handed: 1500 + Ethernet header and VLAN tag. */
    post_rx(t, 0, 4096);
    assert_int_equal(virtio_net_receive(&t->n, frame, 1519), VNET_RX_TOO_BIG);
    assert_int_equal(virtio_net_receive(&t->n, frame, 1518), VNET_RX_DELIVERED);
    /* A buffer too small for this frame stays for the next one. */
    post_rx(t, 1, 50);
    assert_int_equal(virtio_net_receive(&t->n, frame, 60), VNET_RX_TOO_BIG);
    assert_int_equal(virtio_net_receive(&t->n, frame, 38), VNET_RX_DELIVERED);
    assert_int_equal(used_id(&t->rx, 1), 1);
    assert_int_equal(used_len(&t->rx, 1), 50);
    assert_int_equal(t->n.stats.rx_too_big, 2);
    assert_int_equal(t->errors, 0);
}

static void test_rx_malformed(void **state)
{
    struct t *t = *state;
    up(t, FEAT_BASE);
    set_desc(&t->m, t->rx.desc, 0, BUF_GPA, 2048, 0, 0);
    drv_add(&t->rx, 0);
    uint8_t frame[60] = {0};
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_BROKEN);
    expect_reset(t, "queue 0 (rx): chain at head 0 has device-readable buffers");
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_NOT_READY);

    virtio_set_status(&t->n.dev, 0);
    t->errors = 0;
    set_avail_idx(&t->rx, 0);
    up(t, FEAT_BASE);
    set_desc(&t->m, t->rx.desc, 0, RAM_SIZE - 8, 2048, VIRTQ_DESC_F_WRITE, 0);
    drv_add(&t->rx, 0);
    assert_int_equal(virtio_net_receive(&t->n, frame, sizeof frame), VNET_RX_BROKEN);
    expect_reset(t, "queue 0 (rx): descriptor 0: address 0xffff8 + len 2048 is outside guest RAM");
}

static void test_loopback(void **state)
{
    struct t *t = *state;
    up(t, FEAT_ALL);
    t->loopback = true;
    post_rx(t, 0, 2048);
    fill(t, 0x20000, 12 + 90, 33);
    set_desc(&t->m, t->tx.desc, 0, 0x20000, 12 + 90, 0, 0);
    drv_add(&t->tx, 0);
    virtio_queue_notify(&t->n.dev, VNET_TXQ);
    /* The frame went out and straight back in, unharmed by the receive inside send. */
    assert_int_equal(t->n.stats.rx_frames, 1);
    assert_memory_equal(t->m.base + BUF_GPA + 12, t->m.base + 0x20000 + 12, 90);
    assert_int_equal(used_len(&t->rx, 0), 102);
    assert_int_equal(used_idx(&t->tx), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_config),
        T(test_negotiation),
        T(test_driver_ok_without_features_ok),
        T(test_queue_before_features_ok),
        T(test_bad_queue_layout),
        T(test_tx_byte_exact),
        T(test_tx_indirect),
        T(test_tx_malformed),
        T(test_tx_budget),
        T(test_notify_before_driver_ok),
        T(test_rx_delivery),
        T(test_rx_no_buffer),
        T(test_rx_too_big),
        T(test_rx_malformed),
        T(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
