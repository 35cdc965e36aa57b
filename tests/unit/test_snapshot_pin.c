/* test_snapshot_pin: pinned snapshots outlive retention, across a reopen, until unpinned. */
#include "coredump_fixture.h"
#include "evidence/snapshot_store.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct fx_guest g;

static int setup(void **state)
{
    (void)state;
    return fx_setup(&g) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/snapshots'", g.dir);
    assert_int_equal(system(cmd), 0);
    fx_teardown(&g);
    return 0;
}

static struct snapshot_store *open_store(unsigned max_count)
{
    struct snapshot_store *s = NULL;
    char err[256] = "";
    assert_int_equal(snapshot_store_open(&s, g.dir, max_count, 0, err, sizeof(err)), 0);
    return s;
}

static void take(struct snapshot_store *s, struct snapshot_info *info)
{
    struct snapshot_request req = {.vm = "guest",
                                   .trigger = "request",
                                   .sel_id = 1,
                                   .ranges = g.r,
                                   .nranges = 2,
                                   .vcpus = g.cpu,
                                   .nvcpus = 2,
                                   .vmcoreinfo = FX_VMCI,
                                   .vmcoreinfo_len = strlen(FX_VMCI)};
    char err[256] = "";
    assert_int_equal(snapshot_store_write(s, &req, info, err, sizeof(err)), 0);
}

static int held(struct snapshot_store *s, const char *id)
{
    json_t *m = snapshot_store_show(s, id);
    int pinned = m && json_is_true(json_object_get(m, "pinned"));
    int r = m ? 1 + pinned : 0; /* 0 gone, 1 held, 2 held and pinned */
    json_decref(m);
    return r;
}

static void test_pinned_snapshots_outlive_retention(void **state)
{
    struct snapshot_store *s = open_store(1);
    struct snapshot_info v[3];
    (void)state;
    take(s, &v[0]);
    assert_int_equal(snapshot_store_pin(s, v[0].id, true), 0);
    assert_int_equal(snapshot_store_pin(s, v[0].id, true), 0); /* idempotent */
    take(s, &v[1]);
    take(s, &v[2]); /* keep 1: v[1] goes, pinned v[0] stays */
    assert_int_equal(held(s, v[0].id), 2);
    assert_int_equal(held(s, v[1].id), 0);
    assert_int_equal(held(s, v[2].id), 1);
    snapshot_store_close(s);

    s = open_store(1); /* the pin is on disk */
    assert_int_equal(held(s, v[0].id), 2);
    assert_int_equal(snapshot_store_pin(s, v[0].id, false), 0);
    assert_int_equal(held(s, v[0].id), 0); /* unpinning applies retention at once */
    assert_int_equal(held(s, v[2].id), 1);
    assert_int_equal(snapshot_store_pin(s, v[0].id, true), -ENOENT);
    assert_int_equal(snapshot_store_pin(s, "../x", true), -EINVAL);
    snapshot_store_close(s);
}

static void test_pins_are_bounded_and_deleted_with_their_snapshot(void **state)
{
    struct snapshot_store *s = open_store(0);
    struct snapshot_info v;
    char first[SNAPSHOT_ID_MAX] = "";
    (void)state;
    for (int i = 0; i < SNAPSHOT_PIN_MAX; i++) {
        take(s, &v);
        if (!first[0])
            snprintf(first, sizeof first, "%s", v.id);
        assert_int_equal(snapshot_store_pin(s, v.id, true), 0);
    }
    take(s, &v);
    assert_int_equal(snapshot_store_pin(s, v.id, true), -ENOSPC);
    assert_int_equal(snapshot_store_delete(s, first), 0); /* its pin goes with it */
    assert_int_equal(snapshot_store_pin(s, v.id, true), 0);
    snapshot_store_close(s);
}

/* --snapshot-pin-new: each new snapshot is pinned as it is written, before retention runs. */
static void test_pin_new_holds_every_new_snapshot(void **state)
{
    struct snapshot_store *s = open_store(1);
    struct snapshot_info v[3];
    (void)state;
    take(s, &v[0]); /* off: retention as usual */
    snapshot_store_pin_new(s, true);
    take(s, &v[1]);
    take(s, &v[2]);
    assert_int_equal(held(s, v[0].id), 0);
    assert_int_equal(held(s, v[1].id), 2);
    assert_int_equal(held(s, v[2].id), 2);
    snapshot_store_close(s);

    s = open_store(1); /* on disk: a kill right after the write keeps the pin */
    assert_int_equal(held(s, v[1].id), 2);
    assert_int_equal(snapshot_store_pin(s, v[1].id, false), 0);
    assert_int_equal(snapshot_store_pin(s, v[2].id, false), 0);
    assert_int_equal(held(s, v[1].id), 0); /* the uploader let go: retention keeps one */
    assert_int_equal(held(s, v[2].id), 1);
    snapshot_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pinned_snapshots_outlive_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pin_new_holds_every_new_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pins_are_bounded_and_deleted_with_their_snapshot,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
