/* evsensors.c: periodic sensor readings as events (Vigil.SensorReadings), only while someone
 * reads the event stream, so that a dashboard plots them without polling. */
#include "evsensors.h"
#include "events.h"
#include "evhv.h"
#include "hvlink.h"
#include "sse.h"

#include <stdio.h>

static int64_t next_due; /* monotonic ms; 0: at the first tick with a reader */

/* One sensor as the record carries it: what changes (the reading, the health) and what names
 * it. Thresholds and the rest stay with the Sensor resources: a reader fetches them once. */
static json_t *reading(json_t *s)
{
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "Id", json_object_get(s, "Id"), "Name",
                     json_object_get(s, "Name"), "ReadingType", json_object_get(s, "ReadingType"),
                     "ReadingUnits", json_object_get(s, "ReadingUnits"), "Reading",
                     json_object_get(s, "Reading") ? json_object_get(s, "Reading") : json_null(),
                     "Health", json_object_get(json_object_get(s, "Status"), "Health"));
}

static void emit(void)
{
    json_t *rep = hv_simple(json_pack("{s:s}", "op", "sensors")), *s;
    json_t *list = hv_ok(rep) ? json_object_get(rep, "sensors") : NULL;
    if (!json_is_array(list) || !json_array_size(list)) {
        json_decref(rep); /* hv unreachable or without sensors: nothing to report this time */
        return;
    }
    json_t *out = json_array();
    size_t i;
    json_array_foreach(list, i, s)
    {
        json_t *one = reading(s);
        if (one) /* a malformed sensor (missing Id or Name) is left out, not fatal */
            json_array_append_new(out, one);
    }
    json_decref(rep);
    char msg[64], n[16];
    snprintf(n, sizeof n, "%zu", json_array_size(out));
    snprintf(msg, sizeof msg, "%s sensor readings", n);
    events_emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s}, s:{s:{s:o, s:i}}}",
                          "EventType", "Other", "MessageId", VIGIL_REG "SensorReadings", "Message",
                          msg, "Severity", "OK", "MessageSeverity", "OK", "MessageArgs", n,
                          "OriginOfCondition", "@odata.id", "/redfish/v1/Chassis/vigil/Sensors",
                          "Oem", "Vigil", "Readings", out, "PeriodMs", EVSENSORS_PERIOD_MS));
}

int64_t evsensors_tick(int64_t now_ms)
{
    if (!sse_count()) {
        next_due = 0; /* the next reader gets a reading at once */
        return EVSENSORS_PERIOD_MS;
    }
    if (next_due && now_ms < next_due)
        return next_due - now_ms;
    emit();
    next_due = now_ms + EVSENSORS_PERIOD_MS;
    return EVSENSORS_PERIOD_MS;
}
