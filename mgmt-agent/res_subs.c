/* res_subs.c: EventService/Subscriptions (push subscriptions: create, read, change, delete) and
 * the EventService.SubmitTestEvent action. Writes need ConfigureManager (routes.c). */
#include "events.h"
#include "evhv.h"
#include "oem.h"
#include "resources.h"
#include "subs.h"

#include <stdio.h>
#include <string.h>

static void refuse(struct resp *r, const struct subs_err *e)
{
    resp_error(r, e->status, e->msgid, "%s", e->text);
    if (e->pointer[0])
        resp_related(r, e->pointer);
}

/* The list must be known before it is changed, or a write would replace what hv keeps. */
static int ready(struct resp *r)
{
    if (subs_loaded() || subs_load() == 0)
        return 1;
    resp_error(r, 503, "ServiceTemporarilyUnavailable",
               "the subscriptions could not be read from hv's NV store");
    return 0;
}

static int stored(struct resp *r)
{
    if (subs_save() == 0)
        return 1;
    resp_error(r, 503, "ServiceTemporarilyUnavailable",
               "the subscriptions could not be stored in hv's NV store");
    return 0;
}

void h_subscriptions(struct req *q, struct resp *r)
{
    if (!ready(r))
        return;
    if (q->method == M_POST) {
        struct subs_err e = {0};
        struct sub *s;
        if (!q->json)
            return resp_error(r, 400, "MalformedJSON", "POST needs a JSON body");
        if (subs_create(q->json, &s, &e))
            return refuse(r, &e);
        if (!stored(r)) {
            s->used = 0;
            return;
        }
        char loc[96];
        snprintf(loc, sizeof loc, SUBS_PATH "/%u", s->id);
        resp_header(r, "Location", loc);
        return resp_json(r, 201, subs_json(s));
    }
    json_t *members = json_array();
    for (int i = 0; i < SUBS_MAX; i++)
        if (subs[i].used) {
            char path[96];
            snprintf(path, sizeof path, SUBS_PATH "/%u", subs[i].id);
            json_array_append_new(members, odata_link(path));
        }
    resp_json(r, 200,
              collection(SUBS_PATH, "#EventDestinationCollection.EventDestinationCollection",
                         "Event subscriptions", members));
}

void h_subscription(struct req *q, struct resp *r)
{
    if (!ready(r))
        return;
    struct sub *s = subs_find(ARG(q, 2));
    if (!s)
        return resp_error(r, 404, "ResourceNotFound", "no subscription %.64s", ARG(q, 2));
    if (q->method == M_DELETE) {
        subs_push_forget(s);
        s->used = 0;
        if (!stored(r)) {
            s->used = 1; /* still stored: it stays, without what was pending */
            return;
        }
        r->status = 204;
        return;
    }
    if (q->method == M_PATCH) {
        struct subs_err e = {0};
        struct sub before = *s;
        int resumed;
        if (!q->json)
            return resp_error(r, 400, "MalformedJSON", "PATCH needs a JSON body");
        if (subs_patch(s, q->json, &resumed, &e))
            return refuse(r, &e);
        if (!stored(r)) {
            snprintf(s->context, sizeof s->context, "%s", before.context);
            s->suspended = before.suspended;
            return;
        }
        if (resumed)
            subs_push_resume(s);
        else if (s->suspended && !before.suspended)
            subs_push_forget(s);
    }
    resp_json(r, 200, subs_json(s));
}

void h_submit_test_event(struct req *q, struct resp *r)
{
    static const char *const keys[] = {"MessageId",       "Message",           "Severity",
                                       "MessageSeverity", "OriginOfCondition", "EventType",
                                       "EventTimestamp"};
    json_t *body = q->json ? q->json : json_object(), *v;
    const char *key;
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "EventType", "Other", "MessageId",
                            VIGIL_REG "TestEvent", "Message", "A test event (SubmitTestEvent)",
                            "Severity", "OK", "MessageSeverity", "OK", "MessageArgs");
    json_object_foreach(body, key, v)
    {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k], key))
            k++;
        char ptr[64];
        snprintf(ptr, sizeof ptr, "#/%.60s", key);
        if (k == sizeof keys / sizeof keys[0] || !json_is_string(v) ||
            strlen(json_string_value(v)) > 200) {
            resp_error(r, 400,
                       k == sizeof keys / sizeof keys[0] ? "ActionParameterUnknown"
                                                         : "ActionParameterValueFormatError",
                       "SubmitTestEvent: %.60s %s", key,
                       k == sizeof keys / sizeof keys[0] ? "is not one of its parameters"
                                                         : "must be a string of at most 200");
            resp_related(r, ptr);
            goto out;
        }
        if (!strcmp(key, "OriginOfCondition"))
            json_object_set_new(rec, key, odata_link(json_string_value(v)));
        else
            json_object_set(rec, key, v);
    }
    if (!events_emit(rec))
        resp_error(r, 503, "ServiceTemporarilyUnavailable", "the event could not be kept");
    else
        r->status = 204;
    rec = NULL;
out:
    json_decref(rec);
    if (body != q->json)
        json_decref(body);
}
