/* Sensors as Redfish Sensor-shaped JSON (for hvctl and the service channel). */
#include "bmc/sensors.h"
#include "bmc/sensors_int.h"

#include <math.h>
#include <stdlib.h>

static const char *reading_type(enum sensor_unit u)
{
    static const char *const names[] = {"Temperature", "Voltage", "Rotational", "Percent"};
    return (unsigned)u <= SENSOR_PERCENT ? names[u] : "Unknown";
}

static const char *source_name(enum sensor_source src)
{
    static const char *const names[] = {"simulated", "hwmon", "thermal"};
    return (unsigned)src <= SENSOR_SRC_THERMAL ? names[src] : "unknown";
}

static json_t *number(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

json_t *sensor_json(const struct sensor *s)
{
    json_t *th = json_object();

    for (int i = 0; th && i < SENSOR_TH_COUNT; i++) {
        double v = sensor_threshold_get(&s->th, (enum sensor_threshold)i);
        if (!isnan(v))
            json_object_set_new(th, sensor_threshold_name((enum sensor_threshold)i),
                                json_pack("{s:f}", "Reading", v));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:{s:s, s:s},"
                     " s:{s:{s:b, s:s, s:s, s:s, s:s, s:b, s:f}}}",
                     "Id", s->name, "Name", s->label, "ReadingType", reading_type(s->unit),
                     "ReadingUnits", sensor_unit_name(s->unit), "Reading", number(s->reading),
                     "Thresholds", th, "PhysicalContext", s->context, "Status", "State", "Enabled",
                     "Health", sensor_health_name(s->health), "Oem", "Vigil", "Simulated",
                     s->source == SENSOR_SRC_SIM, "Source", source_name(s->source), "Chip", s->chip,
                     "ChipName", s->chip_name, "Sensor", s->chip_sensor, "Overridden",
                     s->overridden, "Hysteresis", s->hysteresis);
}

json_t *sensors_json(struct sensors *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    struct sensor *snap = malloc((n + 1) * sizeof(*snap));
    for (size_t i = 0; snap && i < n; i++)
        snap[i] = s->v[i].pub;
    pthread_mutex_unlock(&s->mu);
    if (!snap)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *j = sensor_json(&snap[i]);
        if (!j || json_array_append_new(arr, j)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    free(snap);
    return arr;
}

char *sensors_prometheus(struct sensors *s)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *arr = sensors_json(s);
    FILE *f = arr ? open_memstream(&buf, &len) : NULL;
    if (f) {
        int rc = sensors_write_prometheus(arr, f);
        if (fclose(f) || rc) {
            free(buf);
            buf = NULL;
        }
    }
    json_decref(arr);
    return buf;
}
