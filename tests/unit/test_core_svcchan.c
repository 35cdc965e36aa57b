/* test_core_svcchan.c: the service channel over the fake platform: SVC_CALL's address and length
 * checks, tickets and collection, the grant table, a guest refused, the event stream. */
#include "core_fixture.h"

#include "base/log.h"
#include "control/ctl_proto.h"
#include "control/svc_serve.h"
#include "supervisor/events.h"
#include "supervisor/evstream.h"
#include "supervisor/svcchan.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <string.h>

#define REQ  0x310000u /* where the service VM's request lies */
#define RESP 0x320000u /* and its answer's buffer */

struct fx {
    struct core *c;
    struct vm *svc, *guest;
    struct svc_channel *chan;
    struct evstream *ev;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->c = core_new(NULL);
    f->chan = f->c->hv->chan = svcchan_new();
    f->ev = f->c->hv->evstream = evstream_new();
    f->c->hv->cfg.sel_rate =
        (struct ratelimit_cfg){EVENTS_RATE_BURST, EVENTS_RATE_PERIOD_S * 1000000000ull};
    f->svc = core_add_vm(f->c, VIGIL_ROLE_SERVICE, "service", 1);
    f->guest = core_add_vm(f->c, VIGIL_ROLE_GUEST, "guest", 1);
    char err[256];
    atomic_store(&f->c->hv->foreground, f->svc);
    assert_int_equal(vm_start(f->svc, err, sizeof err), 0);
    assert_true(fake_wait_idle(f->c->fake, &f->svc->vcpus[0], CORE_TIMEOUT_MS));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    core_free(f->c);
    svcchan_free(f->chan);
    evstream_free(f->ev);
    free(f);
    return 0;
}

/* One SVC_CALL from vCPU 0 of vm; returns the structure as hv left it. */
static struct vigil_hc_svc_call svc_call(struct fx *f, struct vm *vm, struct vigil_hc_svc_call a)
{
    a.ret = 1;
    fake_hypercall(f->c->fake, &vm->vcpus[0], VIGIL_HC_SVC_CALL, CORE_SCRATCH, &a, sizeof a);
    assert_true(fake_wait_idle(f->c->fake, &vm->vcpus[0], CORE_TIMEOUT_MS));
    memcpy(&a, vm->mem + CORE_SCRATCH, sizeof a);
    return a;
}

/* Frames {"op": op} at REQ in the service VM's RAM; returns its length. */
static uint64_t put_request(struct fx *f, const char *json)
{
    json_t *j = json_loads(json, 0, NULL);
    uint8_t *buf;
    size_t n = ctl_encode(VIGIL_CTL_REQUEST, j, NULL, 0, &buf);
    json_decref(j);
    memcpy(f->svc->mem + REQ, buf, n);
    free(buf);
    return n;
}

static void test_submit_checks_addresses_and_lengths(void **state)
{
    struct fx *f = *state;
    uint64_t ram = f->svc->mem_size;
    struct vigil_hc_svc_call a =
        svc_call(f, f->svc, (struct vigil_hc_svc_call){.req_gpa = ram - 8, .req_len = 64});
    assert_int_equal(a.ret, VIGIL_EFAULT);
    a = svc_call(f, f->svc, (struct vigil_hc_svc_call){.req_gpa = UINT64_MAX - 15, .req_len = 32});
    assert_int_equal(a.ret, VIGIL_EFAULT);
    a = svc_call(f, f->svc,
                 (struct vigil_hc_svc_call){.req_gpa = REQ, .req_len = VIGIL_SVC_REQ_MAX + 1});
    assert_int_equal(a.ret, VIGIL_E2BIG);
    a = svc_call(f, f->svc, (struct vigil_hc_svc_call){.resp_gpa = RESP, .resp_cap = 4096});
    assert_int_equal(a.ret, VIGIL_ENOENT); /* ticket 0: no call */
    uint8_t *req;
    size_t len;
    uint64_t ticket;
    assert_false(svcchan_take(f->chan, &req, &len, &ticket)); /* nothing was queued */
    assert_true(atomic_load(&f->svc->bad_hypercalls) >= 4);
}

static void test_a_call_is_queued_answered_and_collected(void **state)
{
    struct fx *f = *state;
    uint64_t n = put_request(f, "{\"op\":\"hello\"}");
    struct vigil_hc_svc_call a =
        svc_call(f, f->svc, (struct vigil_hc_svc_call){.req_gpa = REQ, .req_len = n});
    assert_int_equal(a.ret, VIGIL_EAGAIN);
    uint64_t ticket = a.ticket;
    assert_true(ticket > 0);
    struct vigil_hc_svc_call c = {.resp_gpa = RESP, .resp_cap = 1 << 16, .ticket = ticket};
    assert_int_equal(svc_call(f, f->svc, c).ret, VIGIL_EAGAIN); /* not answered yet */
    a = svc_call(f, f->svc, (struct vigil_hc_svc_call){.req_gpa = REQ, .req_len = n});
    assert_int_equal(a.ret, VIGIL_EBUSY); /* one call at a time */
    atomic_store(&f->svc->events, 0);
    svc_serve(f->c->hv);
    assert_true(atomic_load(&f->svc->events) & VIGIL_EV_REPLY);

    c.resp_cap = 8;
    a = svc_call(f, f->svc, c);
    assert_int_equal(a.ret, VIGIL_E2BIG);
    uint64_t need = a.resp_len;
    assert_true(need > 16 && need < 4096);
    c.resp_cap = 1 << 16;
    c.resp_gpa = f->svc->mem_size - need / 2;
    assert_int_equal(svc_call(f, f->svc, c).ret, VIGIL_EFAULT);
    c.resp_gpa = RESP;
    c.ticket = ticket + 1;
    assert_int_equal(svc_call(f, f->svc, c).ret, VIGIL_ENOENT);
    c.ticket = ticket;
    a = svc_call(f, f->svc, c);
    assert_int_equal(a.ret, 0);
    assert_int_equal(a.resp_len, need);
    struct ctl_msg msg;
    size_t used;
    char err[128];
    assert_int_equal(ctl_parse(f->svc->mem + RESP, need, &msg, &used, err, sizeof err),
                     CTL_PARSE_OK);
    assert_int_equal(msg.kind, VIGIL_CTL_RESPONSE);
    assert_true(json_is_true(json_object_get(msg.json, "ok")));
    assert_int_equal(json_integer_value(json_object_get(msg.json, "protocol")), 1);
    json_decref(msg.json);
    assert_int_equal(svc_call(f, f->svc, c).ret, VIGIL_ENOENT); /* collected already */
}

static const char *answer_code(struct fx *f, const void *req, size_t len, json_t **out)
{
    size_t n;
    uint8_t *resp = svc_answer(f->c->hv, req, len, &n);
    struct ctl_msg msg;
    size_t used;
    char err[128];
    assert_int_equal(ctl_parse(resp, n, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    free(resp);
    *out = msg.json;
    const char *code = json_string_value(json_object_get(msg.json, "code"));
    return code ? code : "";
}

static void test_grants(void **state)
{
    struct fx *f = *state;
    const char *refused[] = {"quit", "service.attach", "service.detach", "sensors.override"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_false(svc_op_granted(refused[i]));
        char json[64];
        snprintf(json, sizeof json, "{\"op\":\"%s\"}", refused[i]);
        uint64_t n = put_request(f, json);
        json_t *j;
        assert_string_equal(answer_code(f, f->svc->mem + REQ, n, &j), "EPERM");
        assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "not granted"));
        json_decref(j);
    }
    assert_false(svc_op_granted(NULL));
    char why[200];
    json_t *req = json_pack("{s:s}", "vm", "guest");
    assert_true(svc_request_allowed(f->svc, "pause", req, why, sizeof why));
    json_decref(req);
    /* Every granted operation is one the control handlers know. */
    size_t count;
    const char *const *ops = svc_granted_ops(&count);
    assert_true(count >= 20);
    for (size_t i = 0; i < count; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"op\":\"%s\"}", ops[i]);
        uint64_t n = put_request(f, json);
        json_t *j;
        const char *code = answer_code(f, f->svc->mem + REQ, n, &j);
        const char *error = json_string_value(json_object_get(j, "error"));
        if (!strcmp(code, "EPERM") || (error && strstr(error, "unknown operation")))
            fail_msg("granted op %s answered %s: %s", ops[i], code, error);
        json_decref(j);
    }
    /* Granted, but not on itself: nothing in a paused service VM could resume it. */
    json_t *j;
    uint64_t n2 = put_request(f, "{\"op\":\"pause\",\"vm\":\"service\"}");
    assert_string_equal(answer_code(f, f->svc->mem + REQ, n2, &j), "EPERM");
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "may not pause itself"));
    json_decref(j);
    n2 = put_request(f, "{\"op\":\"trap\",\"vm\":\"service\"}");
    assert_string_equal(answer_code(f, f->svc->mem + REQ, n2, &j), "EPERM");
    json_decref(j);
    n2 = put_request(f, "{\"op\":\"nmi\",\"vm\":\"service\"}");
    assert_string_equal(answer_code(f, f->svc->mem + REQ, n2, &j), "EPERM");
    json_decref(j);
    /* Its own restart is hv's restart path, which brings it back: granted. */
    req = json_pack("{s:s}", "vm", "service");
    assert_true(svc_request_allowed(f->svc, "vm.reset", req, why, sizeof why));
    assert_true(svc_request_allowed(f->svc, "vm.poweroff", req, why, sizeof why)); /* hv refuses */
    json_decref(req);
    assert_int_equal(core_state(f->svc), VM_RUNNING);
    /* Garbage and a response sent as a request are answered, not obeyed. */
    assert_string_equal(answer_code(f, "\x01\x02garbage-garbage-garbage", 24, &j), "EPROTO");
    json_decref(j);
    json_t *hello = json_pack("{s:s}", "op", "quit");
    uint8_t *buf;
    size_t n = ctl_encode(VIGIL_CTL_RESPONSE, hello, NULL, 0, &buf);
    json_decref(hello);
    assert_string_equal(answer_code(f, buf, n, &j), "EINVAL");
    free(buf);
    json_decref(j);
    assert_false(atomic_load(&f->c->hv->quit));
}

static void test_a_guest_is_refused_with_a_bounded_record(void **state)
{
    struct fx *f = *state;
    char err[256];
    assert_int_equal(hv_switch_to(f->c->hv, f->guest, "test", now_ns(), err, sizeof err), 0);
    assert_true(fake_wait_idle(f->c->fake, &f->guest->vcpus[0], CORE_TIMEOUT_MS));
    for (int i = 0; i < 30; i++) {
        struct vigil_hc_svc_call a =
            svc_call(f, f->guest,
                     (struct vigil_hc_svc_call){.req_gpa = CORE_SCRATCH + 0x1000, .req_len = 32});
        assert_int_equal(a.ret, VIGIL_EPERM);
    }
    /* hv's default bound: EVENTS_RATE_BURST entries, then one saying the rest are counted. */
    assert_int_equal(core_sel_count(f->c, SEL_T_OTHER, "hypercall SVC_CALL refused"),
                     EVENTS_RATE_BURST);
    assert_int_equal(core_sel_count(f->c, SEL_T_OTHER, "rate limit reached"), 1);
    assert_int_equal(core_state(f->guest), VM_RUNNING);
    uint8_t *req;
    size_t len;
    uint64_t ticket;
    assert_false(svcchan_take(f->chan, &req, &len, &ticket));
}

static void test_events_reach_the_stream_and_wake_the_service_vm(void **state)
{
    struct fx *f = *state;
    json_t *r = evstream_read(f->ev, 0, 0);
    uint64_t last = (uint64_t)json_integer_value(json_object_get(r, "last_seq"));
    json_decref(r);
    atomic_store(&f->svc->events, 0);
    uint64_t sel = hv_event(f->c->hv, SEL_WARNING, SEL_T_SNAPSHOT, f->guest, "snapshot X written");
    assert_true(atomic_load(&f->svc->events) & VIGIL_EV_CHANNEL);
    r = evstream_read(f->ev, last, 10);
    json_t *e = json_array_get(json_object_get(r, "events"), 0);
    assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
    assert_int_equal(json_integer_value(json_object_get(e, "seq")), last + 1);
    assert_string_equal(json_string_value(json_object_get(e, "kind")), "snapshot");
    assert_string_equal(json_string_value(json_object_get(e, "vm")), "guest");
    assert_int_equal(json_integer_value(json_object_get(e, "sel_id")), sel);
    json_decref(r);
    for (int i = 0; i < 300; i++)
        evstream_push(f->ev, 0, SEL_OK, SEL_T_VM_SWITCH, NULL, "switch");
    r = evstream_read(f->ev, last, 0);
    assert_true(json_is_true(json_object_get(r, "lost")));
    assert_int_equal(json_array_size(json_object_get(r, "events")), EVSTREAM_READ_MAX);
    assert_int_equal(json_integer_value(json_object_get(r, "last_seq")) -
                         json_integer_value(json_object_get(r, "first_seq")) + 1,
                     EVSTREAM_CAP);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_submit_checks_addresses_and_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_call_is_queued_answered_and_collected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_guest_is_refused_with_a_bounded_record, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_events_reach_the_stream_and_wake_the_service_vm, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
