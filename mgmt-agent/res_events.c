/* res_events.c: the EventService resource and its PATCH (the push subscriptions' retry
 * settings); its SSE stream is sse.c, its subscriptions res_subs.c. */
#include "events.h"
#include "oem.h"
#include "resources.h"
#include "sse.h"
#include "subs.h"

#include <stdio.h>

void h_event_service(struct req *q, struct resp *r)
{
    if (q->method == M_PATCH) {
        struct subs_err e = {0};
        struct subs_settings before = subs_cfg;
        if (!q->json)
            return resp_error(r, 400, "MalformedJSON", "PATCH needs a JSON body");
        if (!subs_loaded() && subs_load())
            return resp_error(r, 503, "ServiceTemporarilyUnavailable",
                              "the settings could not be read from hv's NV store");
        if (subs_settings_patch(q->json, &e)) {
            resp_error(r, e.status, e.msgid, "%s", e.text);
            return resp_related(r, e.pointer);
        }
        if (subs_save()) {
            subs_cfg = before;
            return resp_error(r, 503, "ServiceTemporarilyUnavailable",
                              "the settings could not be stored in hv's NV store");
        }
    }
    char oldest[40], newest[40];
    snprintf(oldest, sizeof oldest, "%s-%llu", events_boot(),
             (unsigned long long)(events_last() ? events_first() : 0));
    snprintf(newest, sizeof newest, "%s-%llu", events_boot(), (unsigned long long)events_last());
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s}, s:s, s:[s], s:[s, s, s], s:[s, s, s, s, s],"
        " s:{s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b}}",
        "@odata.id", "/redfish/v1/EventService", "@odata.type",
        "#EventService.v1_10_0.EventService", "Id", "EventService", "Name", "Event Service",
        "ServiceEnabled", 1, "Status", "State", "Enabled", "Health", "OK", "ServerSentEventUri",
        "/redfish/v1/EventService/SSE", "EventFormatTypes", "Event", "RegistryPrefixes", "Vigil",
        "TaskEvent", "Base", "EventTypesForSubscription", "StatusChange", "ResourceAdded",
        "ResourceUpdated", "Alert", "Other", "SSEFilterPropertiesSupported", "EventType", 1,
        "MessageId", 1, "OriginResource", 1, "RegistryPrefix", 1, "ResourceType", 0,
        "EventFormatType", 0, "MetricReportDefinition", 0, "SubordinateResources", 0);
    if (o) {
        json_object_set_new(o, "DeliveryRetryAttempts", json_integer(subs_cfg.retry_attempts));
        json_object_set_new(o, "DeliveryRetryIntervalSeconds",
                            json_integer(subs_cfg.retry_interval_s));
        json_object_set_new(o, "Subscriptions", odata_link(SUBS_PATH));
        json_object_set_new(
            o, "Actions",
            json_pack("{s:{s:s}}", "#EventService.SubmitTestEvent", "target",
                      "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent"));
        json_object_set_new(o, "Oem",
                            json_pack("{s:{s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:i, s:i}}", "Vigil",
                                      "BootId", events_boot(), "BufferCapacity", EVENTS_CAP,
                                      "OldestEventId", oldest, "LastEventId", newest, "StreamsOpen",
                                      sse_count(), "MaxStreams", SSE_MAX, "StreamQueueBytes",
                                      SSE_QUEUE_MAX, "KeepAliveSeconds", SSE_KEEPALIVE_S,
                                      "MaxSubscriptions", SUBS_MAX));
    }
    resp_json(r, 200, o);
}
