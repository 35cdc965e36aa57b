/* test_agent_events.c: the agent's event ring (ids, wrap, backlog, subscribers) and the SSE
 * $filter (grammar, precedence, errors), without hv or a network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "evfilter.h"

static uint64_t emit(const char *type, const char *mid, const char *origin)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s}", "EventType", type, "MessageId", mid, "Message",
                          "m", "Severity", "OK");
    if (origin)
        json_object_set_new(r, "OriginOfCondition", json_pack("{s:s}", "@odata.id", origin));
    return events_emit(r);
}

static int calls;
static uint64_t seen_seq;
static void count(void *ctx, const struct event *e)
{
    (void)ctx;
    calls++;
    seen_seq = e->seq;
}

/* Ids are <boot>-<seq>, the ring keeps EVENTS_CAP, and subscribers see each record once. */
static void test_ring(void **st)
{
    (void)st;
    events_init();
    assert_int_equal(strlen(events_boot()), 8);
    assert_int_equal(events_last(), 0);
    int h = events_subscribe(count, NULL);
    assert_true(h >= 0);
    assert_int_equal(emit("Alert", "Vigil.1.0.GuestCrashed", "/redfish/v1/Systems/guest"), 1);
    const struct event *e = events_get(1);
    assert_non_null(e);
    char id[40];
    snprintf(id, sizeof id, "%s-1", events_boot());
    assert_string_equal(e->id, id);
    assert_string_equal(e->type, "Alert");
    assert_string_equal(e->origin, "/redfish/v1/Systems/guest");
    assert_non_null(strstr(e->json, "\"EventId\":\""));
    assert_int_equal(calls, 1);
    for (int i = 0; i < EVENTS_CAP + 9; i++)
        emit("StatusChange", "Vigil.1.0.ForegroundSwitched", NULL);
    assert_int_equal(calls, EVENTS_CAP + 10);
    assert_int_equal(seen_seq, EVENTS_CAP + 10);
    assert_int_equal(events_first(), 11);
    assert_null(events_get(10)); /* aged out */
    assert_non_null(events_get(11));
    assert_null(events_get(EVENTS_CAP + 11)); /* not yet */
    /* The backlog after seq is the bytes of the records after it. */
    uint64_t one = events_get(events_last())->json_len;
    assert_int_equal(events_backlog(events_last() - 1), one);
    assert_int_equal(events_backlog(events_last()), 0);
    events_unsubscribe(h);
    emit("Other", "Vigil.1.0.LogEntryAdded", NULL);
    assert_int_equal(calls, EVENTS_CAP + 10);
}

static void test_parse_id(void **st)
{
    (void)st;
    uint64_t seq = 0;
    char id[40];
    snprintf(id, sizeof id, "%s-42", events_boot());
    assert_int_equal(events_parse_id(id, &seq), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(events_parse_id("0badb007-42", &seq), 1); /* another run's */
    assert_int_equal(events_parse_id("nope", &seq), -1);
    assert_int_equal(events_parse_id("-42", &seq), -1);
    assert_int_equal(events_parse_id("abc-", &seq), -1);
    assert_int_equal(events_parse_id("abc-4x", &seq), -1);
    assert_int_equal(events_parse_id("abc-123456789012345678901", &seq), -1);
}

static struct event ev(const char *type, const char *mid, const char *origin)
{
    struct event e = {0};
    snprintf(e.type, sizeof e.type, "%s", type);
    snprintf(e.message_id, sizeof e.message_id, "%s", mid);
    snprintf(e.origin, sizeof e.origin, "%s", origin);
    return e;
}

static int passes(const char *filter, const struct event *e)
{
    struct evfilter f;
    char err[200];
    assert_int_equal(evfilter_parse(&f, filter, err, sizeof err), 0);
    return evfilter_match(&f, e);
}

static void test_filter(void **st)
{
    (void)st;
    struct event crash = ev("Alert", "Vigil.1.0.GuestCrashed", "/redfish/v1/Systems/guest");
    struct event sw = ev("StatusChange", "Vigil.1.0.ForegroundSwitched", "/redfish/v1/Systems/svc");
    struct event task = ev("StatusChange", "TaskEvent.1.0.TaskCompletedOK", "/x");
    assert_true(passes("EventType eq Alert", &crash));
    assert_false(passes("EventType eq Alert", &sw));
    assert_true(passes("EventType eq 'Alert' or MessageId eq Vigil.1.0.ForegroundSwitched", &sw));
    assert_true(passes("MessageId eq Vigil.ForegroundSwitched", &sw)); /* no version: any */
    assert_false(passes("MessageId eq Vigil.Foreground", &sw));
    assert_true(passes("RegistryPrefix eq TaskEvent", &task));
    assert_false(passes("RegistryPrefix eq Task", &task));
    assert_true(passes("OriginResource eq '/redfish/v1/Systems/guest'", &crash));
    assert_true(passes("not (EventType eq Alert)", &sw));
    assert_true(passes("EventType ne Alert", &sw));
    /* and binds tighter than or: a or (b and c) */
    assert_true(passes("EventType eq Alert or EventType eq Other and MessageId eq x", &crash));
    assert_false(passes("(EventType eq Alert or EventType eq Other) and MessageId eq x", &crash));
    assert_true(passes("EventType eq Other and MessageId eq x or EventType eq Alert", &crash));
    struct evfilter f;
    char err[200];
    const char *bad[] = {"",
                         "Severity eq OK",
                         "EventType",
                         "EventType gt Alert",
                         "EventType eq",
                         "EventType eq 'Alert",
                         "(EventType eq Alert",
                         "EventType eq Alert)",
                         "EventType eq Alert or",
                         "((((((((((EventType eq Alert))))))))))"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(evfilter_parse(&f, bad[i], err, sizeof err), -1);
        assert_non_null(strstr(err, "$filter: ")); /* names what is wrong, and where */
    }
    /* More terms than the AST holds: refused, not overflowed. */
    char many[4096] = "EventType eq A";
    for (int i = 0; i < 40; i++)
        strcat(many, " or EventType eq A");
    assert_int_equal(evfilter_parse(&f, many, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
