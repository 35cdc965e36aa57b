/* res_events.c: the EventService resource (its SSE stream is sse.c). */
#include "events.h"
#include "resources.h"
#include "sse.h"

#include <stdio.h>

void h_event_service(struct req *q, struct resp *r)
{
    (void)q;
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
    if (o)
        json_object_set_new(o, "Oem",
                            json_pack("{s:{s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:i}}", "Vigil",
                                      "BootId", events_boot(), "BufferCapacity", EVENTS_CAP,
                                      "OldestEventId", oldest, "LastEventId", newest, "StreamsOpen",
                                      sse_count(), "MaxStreams", SSE_MAX, "StreamQueueBytes",
                                      SSE_QUEUE_MAX, "KeepAliveSeconds", SSE_KEEPALIVE_S));
    resp_json(r, 200, o);
}
