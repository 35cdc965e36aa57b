/* Virtual BMC sensors: host hwmon/thermal readings or a simulated chassis, thresholds, alarms. */
#ifndef VIGIL_SENSORS_H
#define VIGIL_SENSORS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SENSOR_NAME_MAX 64

enum sensor_unit { SENSOR_CEL, SENSOR_VOLTS, SENSOR_RPM, SENSOR_PERCENT };
enum sensor_health { SENSOR_OK, SENSOR_WARNING, SENSOR_CRITICAL };
enum sensor_source { SENSOR_SRC_SIM, SENSOR_SRC_HWMON, SENSOR_SRC_THERMAL };

/* NAN means "no such threshold".  A reading at or beyond a threshold crosses it. */
struct sensor_thresholds {
    double lower_critical, lower_caution, upper_caution, upper_critical;
};

/* The thresholds by number, low to high, for code that walks all four (the struct's fields
 * are separate objects: indexing from one to the next is undefined behaviour). */
enum sensor_threshold {
    SENSOR_TH_LOWER_CRITICAL,
    SENSOR_TH_LOWER_CAUTION,
    SENSOR_TH_UPPER_CAUTION,
    SENSOR_TH_UPPER_CRITICAL,
    SENSOR_TH_COUNT
};
double sensor_threshold_get(const struct sensor_thresholds *th, enum sensor_threshold which);
void sensor_threshold_set(struct sensor_thresholds *th, enum sensor_threshold which, double v);
/* Its Redfish name: "LowerCritical", "LowerCaution", "UpperCaution", "UpperCritical". */
const char *sensor_threshold_name(enum sensor_threshold which);

/* A snapshot: sensors_get/find and the alarm callback hand out copies. */
struct sensor {
    char name[SENSOR_NAME_MAX];  /* unique id: "cpu_temp", "platform_coretemp_0_temp1" */
    char label[SENSOR_NAME_MAX]; /* for people: "CPU Temp", hwmon *_label, thermal zone type */
    char chip[SENSOR_NAME_MAX];  /* Prometheus chip label, named the way node_exporter does */
    char chip_sensor[16];        /* Prometheus sensor label: "temp1", "in0"; zone no. if thermal */
    char chip_name[SENSOR_NAME_MAX]; /* the driver's name (hwmon "name"): node_hwmon_chip_names */
    char context[24];                /* Redfish PhysicalContext: "CPU", "Intake", "Fan", ... */
    enum sensor_unit unit;
    enum sensor_source source;
    double reading; /* NAN when the last read failed (health then stays as it was) */
    struct sensor_thresholds th;
    double hysteresis; /* how far back inside a threshold a reading must come to clear it */
    enum sensor_health health;
    bool overridden;
};

/* AUTO: the host's sensors when it has any, else the simulated chassis. */
enum sensors_mode { SENSORS_AUTO, SENSORS_REAL, SENSORS_SIM, SENSORS_BOTH };

typedef void (*sensors_alarm_fn)(void *ctx, const struct sensor *s, enum sensor_health old_h,
                                 enum sensor_health new_h);

struct sensors_config {
    const char *sysfs_root; /* NULL: "/sys" (tests point this at a fake tree) */
    const char *proc_root;  /* NULL: "/proc" (for the simulated chassis's CPU load) */
    enum sensors_mode mode;
    uint64_t seed;             /* simulated noise: same seed and inputs, same readings */
    sensors_alarm_fn on_alarm; /* may be NULL */
    void *ctx;
};

struct sensors;

int sensors_open(struct sensors **out, const struct sensors_config *cfg, char *err, size_t errlen);
void sensors_close(struct sensors *s);

/*
 * Read every sensor and re-evaluate health.  on_alarm runs once per health change (either
 * direction), on the calling thread, after the internal lock is dropped, so it may call back
 * into this module.  Returns the number of health changes.  sensors_poll_at takes the
 * monotonic time explicitly, so the simulated thermal lag is deterministic under test.
 */
int sensors_poll(struct sensors *s);
int sensors_poll_at(struct sensors *s, uint64_t mono_ns);

size_t sensors_count(struct sensors *s);
bool sensors_get(struct sensors *s, size_t i, struct sensor *out);
bool sensors_find(struct sensors *s, const char *name, struct sensor *out);

/*
 * Test hook: pin a sensor's reading (NAN releases it).  Health is re-evaluated at once and
 * on_alarm fires before this returns.  Returns 0 or -ENOENT.
 */
int sensors_override(struct sensors *s, const char *name, double value);
int sensors_set_thresholds(struct sensors *s, const char *name, const struct sensor_thresholds *th);
/* Pin the simulated host CPU load (0..1); NAN returns to /proc/stat. */
void sensors_set_load(struct sensors *s, double load);
double sensors_load(struct sensors *s);

/* The health a sensor moves to when it reads v (thresholds with hysteresis). */
enum sensor_health sensor_next_health(const struct sensor *s, double v);
const char *sensor_health_name(enum sensor_health h); /* "OK", "Warning", "Critical" */
const char *sensor_unit_name(enum sensor_unit u);     /* "Cel", "V", "RPM", "%" */
/* "CPU Temp 91.2 Cel crossed UpperCaution 85 Cel (OK -> Warning)", for SEL messages. */
size_t sensor_alarm_message(const struct sensor *s, enum sensor_health old_h,
                            enum sensor_health new_h, char *buf, size_t len);

/*
 * Redfish Sensor-shaped objects (Id, Name, ReadingType, ReadingUnits, Reading, Thresholds,
 * Status, PhysicalContext, Oem.Vigil {Simulated, Source, Chip, Sensor, Overridden,
 * Hysteresis}).  Dump with JSON_REAL_PRECISION(6) to avoid 45.200000000000003.
 */
json_t *sensor_json(const struct sensor *s);
json_t *sensors_json(struct sensors *s); /* array of all sensors */

/*
 * Prometheus text exposition (node_exporter hwmon names plus vigil_sensor_*).  Works from
 * the JSON above, and sensors_prom.c needs only Jansson and stdio, so the service VM's agent
 * can render the same text from what it receives over the service channel.
 */
int sensors_write_prometheus(const json_t *sensors, FILE *out);
char *sensors_prometheus(struct sensors *s); /* malloc'ed text, NULL on ENOMEM */

#endif
