/* Prometheus text exposition of sensor JSON, with node_exporter's hwmon and thermal names.
   Depends only on Jansson and stdio so the service VM's agent can link it too. */
#include "bmc/sensors.h"

#include <stdio.h>
#include <string.h>

enum what { READING, THRESHOLD, LABEL, THERMAL, SIMULATED, HEALTH };

static const struct family {
    const char *name, *help;
    const char *reading_type; /* NULL: every sensor */
    enum what what;
    const char *threshold; /* Thresholds key, for THRESHOLD */
    double scale;
} fams[] = {
    {"node_hwmon_temp_celsius", "Hardware monitor for temperature (input)", "Temperature", READING,
     NULL, 1},
    {"node_hwmon_temp_lcrit_celsius", "Hardware monitor for temperature (lcrit)", "Temperature",
     THRESHOLD, "LowerCritical", 1},
    {"node_hwmon_temp_min_celsius", "Hardware monitor for temperature (min)", "Temperature",
     THRESHOLD, "LowerCaution", 1},
    {"node_hwmon_temp_max_celsius", "Hardware monitor for temperature (max)", "Temperature",
     THRESHOLD, "UpperCaution", 1},
    {"node_hwmon_temp_crit_celsius", "Hardware monitor for temperature (crit)", "Temperature",
     THRESHOLD, "UpperCritical", 1},
    {"node_hwmon_in_volts", "Hardware monitor for voltage (input)", "Voltage", READING, NULL, 1},
    {"node_hwmon_in_lcrit_volts", "Hardware monitor for voltage (lcrit)", "Voltage", THRESHOLD,
     "LowerCritical", 1},
    {"node_hwmon_in_min_volts", "Hardware monitor for voltage (min)", "Voltage", THRESHOLD,
     "LowerCaution", 1},
    {"node_hwmon_in_max_volts", "Hardware monitor for voltage (max)", "Voltage", THRESHOLD,
     "UpperCaution", 1},
    {"node_hwmon_in_crit_volts", "Hardware monitor for voltage (crit)", "Voltage", THRESHOLD,
     "UpperCritical", 1},
    {"node_hwmon_fan_rpm", "Hardware monitor for fan revolutions per minute (input)", "Rotational",
     READING, NULL, 1},
    {"node_hwmon_fan_lcrit_rpm", "Hardware monitor for fan revolutions per minute (lcrit)",
     "Rotational", THRESHOLD, "LowerCritical", 1},
    {"node_hwmon_fan_min_rpm", "Hardware monitor for fan revolutions per minute (min)",
     "Rotational", THRESHOLD, "LowerCaution", 1},
    {"vigil_hwmon_pwm_ratio", "Fan duty cycle (0-1)", "Percent", READING, NULL, 0.01},
    {"node_hwmon_sensor_label", "Label for given chip and sensor", NULL, LABEL, NULL, 1},
    {"node_thermal_zone_temp", "Zone temperature in Celsius", "Temperature", THERMAL, NULL, 1},
    {"vigil_sensor_simulated", "1 if the sensor is simulated, 0 if it reads host hardware", NULL,
     SIMULATED, NULL, 1},
    {"vigil_sensor_health", "Sensor health: 0 OK, 1 Warning, 2 Critical", NULL, HEALTH, NULL, 1},
};

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void put_label(FILE *out, const char *key, const char *val, bool more)
{
    fprintf(out, "%s=\"", key);
    for (; *val; val++) {
        if (*val == '\\' || *val == '"')
            fputc('\\', out), fputc(*val, out);
        else if (*val == '\n')
            fputs("\\n", out);
        else
            fputc(*val, out);
    }
    fprintf(out, "\"%s", more ? "," : "");
}

/* The sample value of sensor j in family f; false when it has none. */
static bool sample(const struct family *f, const json_t *j, double *v)
{
    const json_t *oem = json_object_get(json_object_get(j, "Oem"), "Vigil");
    bool thermal = !strcmp(str(oem, "Source"), "thermal");
    const json_t *x = NULL;

    if (f->reading_type && strcmp(str(j, "ReadingType"), f->reading_type))
        return false;
    switch (f->what) {
    case READING:
    case THERMAL:
        if (thermal != (f->what == THERMAL))
            return false;
        x = json_object_get(j, "Reading");
        break;
    case THRESHOLD:
        x = thermal
                ? NULL
                : json_object_get(json_object_get(json_object_get(j, "Thresholds"), f->threshold),
                                  "Reading");
        break;
    case LABEL:
        *v = 1;
        return !thermal;
    case SIMULATED:
        *v = json_is_true(json_object_get(oem, "Simulated"));
        return true;
    case HEALTH: {
        const char *h = str(json_object_get(j, "Status"), "Health");
        *v = !strcmp(h, "Critical") ? 2 : !strcmp(h, "Warning") ? 1 : 0;
        return true;
    }
    }
    if (!json_is_number(x))
        return false;
    *v = json_number_value(x) * f->scale;
    return true;
}

static const char *chip_of(const json_t *j)
{
    const json_t *oem = json_object_get(json_object_get(j, "Oem"), "Vigil");
    return strcmp(str(oem, "Source"), "thermal") ? str(oem, "Chip") : NULL;
}

/* node_hwmon_chip_names: one sample per chip (not per sensor), mapping its label to the
 * driver's name, as node_exporter does. */
static void write_chip_names(const json_t *sensors, FILE *out)
{
    size_t n = json_array_size(sensors);
    bool header = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(sensors, i);
        const char *chip = chip_of(j);
        bool seen = !chip;
        for (size_t k = 0; k < i && !seen; k++) {
            const char *other = chip_of(json_array_get(sensors, k));
            seen = other && !strcmp(other, chip);
        }
        if (seen)
            continue;
        if (!header)
            fputs("# HELP node_hwmon_chip_names Annotation metric for human-readable chip names\n"
                  "# TYPE node_hwmon_chip_names gauge\n",
                  out);
        header = true;
        const json_t *oem = json_object_get(json_object_get(j, "Oem"), "Vigil");
        const char *name = str(oem, "ChipName");
        fputs("node_hwmon_chip_names{", out);
        put_label(out, "chip", chip, true);
        put_label(out, "chip_name", name[0] ? name : chip, false);
        fputs("} 1\n", out);
    }
}

int sensors_write_prometheus(const json_t *sensors, FILE *out)
{
    size_t n = json_array_size(sensors);

    write_chip_names(sensors, out);

    for (size_t fi = 0; fi < sizeof(fams) / sizeof(fams[0]); fi++) {
        const struct family *f = &fams[fi];
        bool header = false;
        for (size_t i = 0; i < n; i++) {
            const json_t *j = json_array_get(sensors, i);
            const json_t *oem = json_object_get(json_object_get(j, "Oem"), "Vigil");
            double v;
            if (!sample(f, j, &v))
                continue;
            if (!header) /* text format: one HELP/TYPE per family, its samples together */
                fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", f->name, f->help, f->name);
            header = true;
            fprintf(out, "%s{", f->name);
            if (f->what == THERMAL) {
                put_label(out, "type", str(j, "Name"), true);
                put_label(out, "zone", str(oem, "Sensor"), false);
            } else {
                put_label(out, "chip", str(oem, "Chip"), true);
                put_label(out, "sensor", str(oem, "Sensor"), f->what == LABEL);
                if (f->what == LABEL)
                    put_label(out, "label", str(j, "Name"), false);
            }
            fprintf(out, "} %.10g\n", v);
        }
    }
    return ferror(out) ? -1 : 0;
}
