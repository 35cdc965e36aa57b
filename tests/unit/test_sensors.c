/* Unit tests for sensors: fake sysfs trees, the simulated chassis, hysteresis, rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000ull

struct fx {
    char root[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/vigil-sensors-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* Writes root/rel (creating directories), like a sysfs attribute. */
static void put(const char *root, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void link_dev(const char *root, const char *rel, const char *target_rel)
{
    char target[512], path[512];
    snprintf(target, sizeof(target), "%s/%s", root, target_rel);
    mkdir(target, 0755); /* its parents were made by put() */
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    *strrchr(path, '/') = '\0';
    mkdir(path, 0755);
    path[strlen(path)] = '/';
    assert_int_equal(symlink(target, path), 0);
}

/* The alarm log the callback fills. */
struct alarms {
    int n;
    char name[16][SENSOR_NAME_MAX];
    enum sensor_health from[16], to[16];
    struct sensors *reg; /* to prove the callback may re-enter the module */
};

static void on_alarm(void *ctx, const struct sensor *s, enum sensor_health old_h,
                     enum sensor_health new_h)
{
    struct alarms *a = ctx;
    struct sensor again;
    if (a->reg)
        assert_true(sensors_find(a->reg, s->name, &again)); /* would deadlock if locked */
    if (a->n < 16) {
        snprintf(a->name[a->n], SENSOR_NAME_MAX, "%s", s->name);
        a->from[a->n] = old_h, a->to[a->n] = new_h;
    }
    a->n++;
}

static struct sensors *open_ok(const char *sysfs, const char *proc, enum sensors_mode mode,
                               uint64_t seed, struct alarms *a)
{
    struct sensors_config cfg = {sysfs, proc, mode, seed, a ? on_alarm : NULL, a};
    struct sensors *s;
    char err[256];
    int rc = sensors_open(&s, &cfg, err, sizeof(err));
    if (rc)
        fail_msg("sensors_open: %s", err);
    if (a)
        a->reg = s;
    return s;
}

static void fake_hwmon(const char *sys)
{
    put(sys, "devices/platform/coretemp.0/uevent", "");
    put(sys, "class/hwmon/hwmon0/name", "coretemp\n");
    link_dev(sys, "class/hwmon/hwmon0/device", "devices/platform/coretemp.0");
    put(sys, "class/hwmon/hwmon0/temp1_input", "45000\n");
    put(sys, "class/hwmon/hwmon0/temp1_label", "Package id 0\n");
    put(sys, "class/hwmon/hwmon0/temp1_max", "80000\n");
    put(sys, "class/hwmon/hwmon0/temp1_crit", "100000\n");
    put(sys, "class/hwmon/hwmon0/temp2_input", "43000\n");
    put(sys, "class/hwmon/hwmon1/name", "nct6775\n"); /* no device link: chip from name */
    put(sys, "class/hwmon/hwmon1/in0_input", "1200\n");
    put(sys, "class/hwmon/hwmon1/in0_min", "1000\n");
    put(sys, "class/hwmon/hwmon1/in0_max", "1400\n");
    put(sys, "class/hwmon/hwmon1/fan1_input", "1500\n");
    put(sys, "class/hwmon/hwmon1/fan1_min", "0\n"); /* unprogrammed: no threshold */
    put(sys, "class/hwmon/hwmon1/fan2_input", "900\n");
    put(sys, "class/hwmon/hwmon1/fan2_min", "600\n");
    put(sys, "class/hwmon/hwmon1/fan2_label", "Rear \"quoted\" fan\n");
    put(sys, "class/hwmon/hwmon1/pwm1", "128\n"); /* not a sensor we read */
    /* An old-style driver whose attributes live on the device. */
    put(sys, "devices/pci0000:00/0000:00:18.3/temp1_input", "51500\n");
    link_dev(sys, "class/hwmon/hwmon2/device", "devices/pci0000:00/0000:00:18.3");
    /* Duplicated by hwmon in real life: must be ignored while hwmon has temperatures. */
    put(sys, "class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
    put(sys, "class/thermal/thermal_zone0/temp", "45000\n");
}

static void expect_sensor(struct sensors *s, const char *name, const char *label, const char *chip,
                          const char *chip_sensor, double reading)
{
    struct sensor x;
    if (!sensors_find(s, name, &x))
        fail_msg("no sensor %s", name);
    assert_string_equal(x.label, label);
    assert_string_equal(x.chip, chip);
    assert_string_equal(x.chip_sensor, chip_sensor);
    assert_true(fabs(x.reading - reading) < 1e-9);
    assert_int_equal(x.source, SENSOR_SRC_HWMON);
}

static void test_hwmon_discovery(void **state)
{
    struct fx *f = *state;
    fake_hwmon(f->root);
    struct sensors *s = open_ok(f->root, f->root, SENSORS_AUTO, 1, NULL);
    assert_int_equal(sensors_count(s), 6); /* no thermal zone, no simulated chassis */
    assert_int_equal(sensors_poll_at(s, 0), 0);
    expect_sensor(s, "platform_coretemp_0_temp1", "Package id 0", "platform_coretemp_0", "temp1",
                  45.0);
    expect_sensor(s, "platform_coretemp_0_temp2", "temp2", "platform_coretemp_0", "temp2", 43.0);
    expect_sensor(s, "nct6775_in0", "in0", "nct6775", "in0", 1.2);
    expect_sensor(s, "nct6775_fan1", "fan1", "nct6775", "fan1", 1500);
    expect_sensor(s, "nct6775_fan2", "Rear \"quoted\" fan", "nct6775", "fan2", 900);
    expect_sensor(s, "pci0000:00_0000:00:18_3_temp1", "temp1", "pci0000:00_0000:00:18_3", "temp1",
                  51.5);
    struct sensor x;
    sensors_find(s, "platform_coretemp_0_temp1", &x);
    assert_true(isnan(x.th.lower_caution) && isnan(x.th.lower_critical));
    assert_true(x.th.upper_caution == 80.0 && x.th.upper_critical == 100.0);
    assert_string_equal(x.context, "CPU");
    sensors_find(s, "nct6775_in0", &x);
    assert_true(fabs(x.th.lower_caution - 1.0) < 1e-9 && fabs(x.th.upper_caution - 1.4) < 1e-9);
    sensors_find(s, "nct6775_fan1", &x);
    assert_true(isnan(x.th.lower_caution));
    sensors_find(s, "nct6775_fan2", &x);
    assert_true(x.th.lower_caution == 600);
    sensors_close(s);

    /* BOTH adds the simulated chassis beside the real sensors. */
    s = open_ok(f->root, f->root, SENSORS_BOTH, 1, NULL);
    assert_int_equal(sensors_count(s), 6 + 11);
    sensors_close(s);
}

static void test_hwmon_alarms_follow_files(void **state)
{
    struct fx *f = *state;
    struct alarms a = {0};
    fake_hwmon(f->root);
    struct sensors *s = open_ok(f->root, f->root, SENSORS_REAL, 1, &a);
    sensors_poll_at(s, 0);
    assert_int_equal(a.n, 0);
    put(f->root, "class/hwmon/hwmon0/temp1_input", "85000\n");
    assert_int_equal(sensors_poll_at(s, SEC), 1);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.name[0], "platform_coretemp_0_temp1");
    assert_int_equal(a.to[0], SENSOR_WARNING);
    sensors_poll_at(s, 2 * SEC);
    put(f->root, "class/hwmon/hwmon0/temp1_input", "79000\n"); /* inside the 2 Cel band */
    sensors_poll_at(s, 3 * SEC);
    assert_int_equal(a.n, 1);
    put(f->root, "class/hwmon/hwmon0/temp1_input", "77900\n");
    sensors_poll_at(s, 4 * SEC);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.to[1], SENSOR_OK);
    put(f->root, "class/hwmon/hwmon1/fan2_input", "550\n"); /* a slowing fan: lower caution */
    sensors_poll_at(s, 5 * SEC);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.name[2], "nct6775_fan2");
    assert_int_equal(a.to[2], SENSOR_WARNING);
    char gone[256];
    snprintf(gone, sizeof(gone), "%s/class/hwmon/hwmon1/fan2_input", f->root);
    assert_int_equal(unlink(gone), 0);
    sensors_poll_at(s, 6 * SEC); /* an unreadable sensor keeps its health, reads NAN */
    struct sensor x;
    sensors_find(s, "nct6775_fan2", &x);
    assert_true(isnan(x.reading));
    assert_int_equal(x.health, SENSOR_WARNING);
    assert_int_equal(a.n, 3);
    sensors_close(s);
}

static void test_thermal_only_host(void **state)
{
    struct fx *f = *state;
    put(f->root, "class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
    put(f->root, "class/thermal/thermal_zone0/temp", "52000\n");
    put(f->root, "class/thermal/thermal_zone0/trip_point_0_type", "passive\n");
    put(f->root, "class/thermal/thermal_zone0/trip_point_0_temp", "95000\n");
    put(f->root, "class/thermal/thermal_zone0/trip_point_1_type", "critical\n");
    put(f->root, "class/thermal/thermal_zone0/trip_point_1_temp", "105000\n");
    put(f->root, "class/thermal/thermal_zone1/type", "acpitz\n");
    put(f->root, "class/thermal/thermal_zone1/temp", "27800\n");
    put(f->root, "class/thermal/cooling_device0/type", "Processor\n");
    struct sensors *s = open_ok(f->root, f->root, SENSORS_AUTO, 1, NULL);
    assert_int_equal(sensors_count(s), 2);
    sensors_poll_at(s, 0);
    struct sensor x;
    assert_true(sensors_find(s, "thermal_zone0", &x));
    assert_int_equal(x.source, SENSOR_SRC_THERMAL);
    assert_string_equal(x.label, "x86_pkg_temp");
    assert_true(x.reading == 52.0 && x.th.upper_caution == 95.0 && x.th.upper_critical == 105.0);
    char *prom = sensors_prometheus(s);
    assert_non_null(strstr(prom, "node_thermal_zone_temp{type=\"x86_pkg_temp\",zone=\"0\"} 52\n"));
    assert_non_null(strstr(prom, "node_thermal_zone_temp{type=\"acpitz\",zone=\"1\"} 27.8\n"));
    assert_non_null(strstr(prom, "vigil_sensor_simulated{chip=\"thermal\",sensor=\"1\"} 0\n"));
    assert_null(strstr(prom, "node_hwmon_temp_celsius"));
    free(prom);
    sensors_close(s);
}

static void test_auto_falls_back_to_sim(void **state)
{
    struct fx *f = *state;
    struct sensors *s = open_ok(f->root, f->root, SENSORS_AUTO, 1, NULL);
    assert_int_equal(sensors_count(s), 11);
    struct sensor x;
    for (size_t i = 0; i < sensors_count(s); i++) {
        assert_true(sensors_get(s, i, &x));
        assert_int_equal(x.source, SENSOR_SRC_SIM);
    }
    assert_false(sensors_get(s, 11, &x));
    sensors_close(s);
    s = open_ok(f->root, f->root, SENSORS_REAL, 1, NULL);
    assert_int_equal(sensors_count(s), 0);
    assert_int_equal(sensors_poll(s), 0);
    sensors_close(s);
}

static double reading(struct sensors *s, const char *name)
{
    struct sensor x;
    if (!sensors_find(s, name, &x))
        fail_msg("no sensor %s", name);
    return x.reading;
}

static void test_sim_follows_load(void **state)
{
    struct fx *f = *state;
    struct alarms a = {0};
    struct sensors *s = open_ok(f->root, f->root, SENSORS_SIM, 7, &a);
    uint64_t t = 0;
    sensors_set_load(s, 0);
    for (int i = 0; i < 60; i++, t += 10 * SEC)
        sensors_poll_at(s, t);
    assert_true(fabs(reading(s, "cpu_temp") - 36) < 0.5);
    assert_true(fabs(reading(s, "inlet_temp") - 24) < 0.3);
    assert_true(fabs(reading(s, "cpu_fan") - 1200) < 20);
    assert_true(fabs(reading(s, "cpu_fan_duty") - 20) < 0.01);
    assert_true(fabs(reading(s, "p12v") - 12) < 0.05);
    assert_true(fabs(reading(s, "vcore") - 0.9) < 0.01);

    sensors_set_load(s, 1);
    double prev = reading(s, "cpu_temp");
    for (int i = 0; i < 5; i++, t += 2 * SEC) { /* heats up with lag, not in one step */
        sensors_poll_at(s, t);
        double now = reading(s, "cpu_temp");
        assert_true(now > prev + 1 && now < 78);
        prev = now;
    }
    for (int i = 0; i < 60; i++, t += 10 * SEC)
        sensors_poll_at(s, t);
    assert_true(fabs(sensors_load(s) - 1) < 1e-9);
    assert_true(fabs(reading(s, "cpu_temp") - 78) < 0.6);
    assert_true(fabs(reading(s, "exhaust_temp") - 46) < 0.6);
    assert_true(reading(s, "cpu_fan") > 5600 && fabs(reading(s, "sys_fan1") - 4250) < 50);
    assert_true(fabs(reading(s, "vcore") - 1.15) < 0.01);
    assert_int_equal(a.n, 0); /* full load stays inside every threshold */
    sensors_close(s);
}

static void test_sim_load_from_proc_stat(void **state)
{
    struct fx *f = *state;
    put(f->root, "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
    struct sensors *s = open_ok(f->root, f->root, SENSORS_SIM, 1, NULL);
    sensors_poll_at(s, 0);
    assert_true(fabs(sensors_load(s) - 0.2) < 1e-9); /* since boot on the first poll */
    put(f->root, "stat", "cpu  600 0 100 1300 0 0 0 0 0 0\n");
    sensors_poll_at(s, SEC);
    assert_true(fabs(sensors_load(s) - 0.5) < 1e-9);
    sensors_poll_at(s, 2 * SEC); /* no ticks elapsed: keep the last load */
    assert_true(fabs(sensors_load(s) - 0.5) < 1e-9);
    sensors_set_load(s, 0.9);
    sensors_poll_at(s, 3 * SEC);
    assert_true(fabs(sensors_load(s) - 0.9) < 1e-9);
    sensors_set_load(s, NAN);
    put(f->root, "stat", "cpu  700 0 100 2200 0 0 0 0 0 0\n");
    sensors_poll_at(s, 4 * SEC);
    assert_true(fabs(sensors_load(s) - 0.1) < 1e-9);
    sensors_close(s);
}

static void test_sim_deterministic(void **state)
{
    struct fx *f = *state;
    struct sensors *a = open_ok(f->root, f->root, SENSORS_SIM, 42, NULL);
    struct sensors *b = open_ok(f->root, f->root, SENSORS_SIM, 42, NULL);
    struct sensors *c = open_ok(f->root, f->root, SENSORS_SIM, 43, NULL);
    int differ = 0;
    sensors_set_load(a, 0.3), sensors_set_load(b, 0.3), sensors_set_load(c, 0.3);
    for (int i = 0; i < 20; i++) {
        sensors_poll_at(a, i * SEC), sensors_poll_at(b, i * SEC), sensors_poll_at(c, i * SEC);
        for (size_t k = 0; k < sensors_count(a); k++) {
            struct sensor x, y, z;
            sensors_get(a, k, &x), sensors_get(b, k, &y), sensors_get(c, k, &z);
            assert_true(x.reading == y.reading);
            differ += x.reading != z.reading;
        }
    }
    assert_true(differ > 100);
    sensors_close(a), sensors_close(b), sensors_close(c);
}

static void test_override_hysteresis(void **state)
{
    struct fx *f = *state;
    struct alarms a = {0};
    struct sensors *s = open_ok(f->root, f->root, SENSORS_SIM, 1, &a);
    sensors_set_load(s, 0);
    sensors_poll_at(s, 0);
    assert_int_equal(a.n, 0);
    /* cpu_temp: UpperCaution 85, UpperCritical 95, hysteresis 2. */
    static const struct {
        double v;
        int alarms;
        enum sensor_health h;
    } steps[] = {
        {80, 0, SENSOR_OK},       {85, 1, SENSOR_WARNING},    {84, 1, SENSOR_WARNING},
        {86, 1, SENSOR_WARNING},  {83.5, 1, SENSOR_WARNING},  {85.5, 1, SENSOR_WARNING},
        {82.9, 2, SENSOR_OK},     {84.9, 2, SENSOR_OK},       {85, 3, SENSOR_WARNING},
        {95, 4, SENSOR_CRITICAL}, {93.5, 4, SENSOR_CRITICAL}, {92.9, 5, SENSOR_WARNING},
        {99, 6, SENSOR_CRITICAL}, {40, 7, SENSOR_OK},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct sensor x;
        assert_int_equal(sensors_override(s, "cpu_temp", steps[i].v), 0);
        sensors_poll_at(s, (i + 1) * SEC); /* polling a pinned sensor adds no alarms */
        assert_int_equal(a.n, steps[i].alarms);
        sensors_find(s, "cpu_temp", &x);
        assert_int_equal(x.health, steps[i].h);
        assert_true(x.overridden && x.reading == steps[i].v);
    }
    assert_int_equal(a.from[4], SENSOR_CRITICAL);
    assert_int_equal(a.to[5], SENSOR_CRITICAL);
    assert_int_equal(a.from[5], SENSOR_WARNING);
    assert_int_equal(a.from[6], SENSOR_CRITICAL); /* one jump, one alarm */
    assert_int_equal(a.to[6], SENSOR_OK);

    /* Lower thresholds on the 12 V rail: LowerCaution 11.4, LowerCritical 10.8, band 0.12. */
    sensors_override(s, "p12v", 11.4);
    sensors_override(s, "p12v", 11.5);
    sensors_override(s, "p12v", 11.53);
    sensors_override(s, "p12v", 10.7);
    assert_int_equal(a.n, 10);
    assert_string_equal(a.name[9], "p12v");
    assert_int_equal(a.to[8], SENSOR_OK);
    assert_int_equal(a.to[9], SENSOR_CRITICAL);
    /* Releasing the pin returns to the model and clears the alarm at once. */
    sensors_override(s, "p12v", NAN);
    assert_int_equal(a.n, 11);
    assert_int_equal(a.to[10], SENSOR_OK);
    struct sensor x;
    sensors_find(s, "p12v", &x);
    assert_false(x.overridden);
    assert_true(fabs(x.reading - 12) < 0.05);
    assert_int_equal(sensors_override(s, "nope", 1), -ENOENT);

    char msg[160];
    sensors_override(s, "cpu_temp", 91.25);
    sensors_find(s, "cpu_temp", &x);
    sensor_alarm_message(&x, SENSOR_OK, SENSOR_WARNING, msg, sizeof(msg));
    assert_string_equal(msg, "CPU Temp 91.25 Cel crossed UpperCaution 85 Cel (OK -> Warning)");
    sensors_override(s, "cpu_temp", 50);
    sensors_find(s, "cpu_temp", &x);
    sensor_alarm_message(&x, SENSOR_WARNING, SENSOR_OK, msg, sizeof(msg));
    assert_string_equal(msg, "CPU Temp 50 Cel recovered (Warning -> OK)");
    sensors_close(s);
}

static void test_set_thresholds(void **state)
{
    struct fx *f = *state;
    struct alarms a = {0};
    struct sensors *s = open_ok(f->root, f->root, SENSORS_SIM, 1, &a);
    sensors_set_load(s, 0);
    sensors_poll_at(s, 0);
    struct sensor_thresholds th = {NAN, NAN, 30, NAN};
    assert_int_equal(sensors_set_thresholds(s, "cpu_temp", &th), 0);
    assert_int_equal(a.n, 0);
    sensors_poll_at(s, SEC);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.to[0], SENSOR_WARNING);
    assert_int_equal(sensors_set_thresholds(s, "nope", &th), -ENOENT);
    sensors_close(s);
}

static void test_next_health_pure(void **state)
{
    (void)state;
    struct sensor x = {.th = {NAN, NAN, NAN, NAN}, .hysteresis = 1};
    assert_int_equal(sensor_next_health(&x, 1e9), SENSOR_OK); /* no thresholds, never alarms */
    x.th = (struct sensor_thresholds){0, 10, 90, 100};
    assert_int_equal(sensor_next_health(&x, 50), SENSOR_OK);
    assert_int_equal(sensor_next_health(&x, 10), SENSOR_WARNING);
    assert_int_equal(sensor_next_health(&x, -5), SENSOR_CRITICAL);
    x.health = SENSOR_CRITICAL;
    assert_int_equal(sensor_next_health(&x, 0.5), SENSOR_CRITICAL);
    assert_int_equal(sensor_next_health(&x, 1.5), SENSOR_WARNING);
    assert_int_equal(sensor_next_health(&x, 11.5), SENSOR_OK);
    assert_int_equal(sensor_next_health(&x, NAN), SENSOR_CRITICAL);
}

/* Every family's samples must be contiguous and its HELP/TYPE appear once. */
static void check_prom_grouping(const char *text)
{
    char seen[64][64];
    int nseen = 0;
    char cur[64] = "";
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        char name[64];
        if (line[0] == '#') {
            assert_int_equal(sscanf(line, "# %*s %63s", name), 1);
        } else {
            assert_int_equal(sscanf(line, "%63[^{ ]", name), 1);
        }
        if (strcmp(name, cur)) {
            for (int i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], name);
            snprintf(seen[nseen++], 64, "%s", name);
            snprintf(cur, sizeof(cur), "%s", name);
        }
    }
}

static void test_json_and_prometheus(void **state)
{
    struct fx *f = *state;
    fake_hwmon(f->root);
    struct sensors *s = open_ok(f->root, f->root, SENSORS_BOTH, 1, NULL);
    sensors_set_load(s, 0);
    sensors_poll_at(s, 0);
    sensors_override(s, "cpu_temp", 90);

    json_t *arr = sensors_json(s);
    assert_int_equal(json_array_size(arr), 17);
    json_t *cpu = NULL;
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(arr, i), "Id")), "cpu_temp"))
            cpu = json_array_get(arr, i);
    assert_non_null(cpu);
    char *dump = json_dumps(cpu, JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
    assert_string_equal(
        dump, "{\"Id\": \"cpu_temp\", \"Name\": \"CPU Temp\", \"Oem\": {\"Vigil\": {\"Chip\": "
              "\"vigil_bmc\", \"Hysteresis\": 2.0, \"Overridden\": true, \"Sensor\": \"temp1\", "
              "\"Simulated\": true, \"Source\": \"simulated\"}}, \"PhysicalContext\": \"CPU\", "
              "\"Reading\": 90.0, \"ReadingType\": \"Temperature\", \"ReadingUnits\": \"Cel\", "
              "\"Status\": {\"Health\": \"Warning\", \"State\": \"Enabled\"}, \"Thresholds\": "
              "{\"UpperCaution\": {\"Reading\": 85.0}, \"UpperCritical\": {\"Reading\": 95.0}}}");
    free(dump);
    json_decref(arr);

    char *prom = sensors_prometheus(s);
    assert_non_null(prom);
    check_prom_grouping(prom);
    static const char *const want[] = {
        "# TYPE node_hwmon_temp_celsius gauge\n",
        "node_hwmon_temp_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 45\n",
        "node_hwmon_temp_celsius{chip=\"vigil_bmc\",sensor=\"temp1\"} 90\n",
        "node_hwmon_temp_max_celsius{chip=\"platform_coretemp_0\",sensor=\"temp1\"} 80\n",
        "node_hwmon_temp_crit_celsius{chip=\"vigil_bmc\",sensor=\"temp1\"} 95\n",
        "node_hwmon_in_volts{chip=\"nct6775\",sensor=\"in0\"} 1.2\n",
        "node_hwmon_in_min_volts{chip=\"vigil_bmc\",sensor=\"in0\"} 11.4\n",
        "node_hwmon_fan_rpm{chip=\"nct6775\",sensor=\"fan1\"} 1500\n",
        "node_hwmon_fan_min_rpm{chip=\"nct6775\",sensor=\"fan2\"} 600\n",
        "vigil_hwmon_pwm_ratio{chip=\"vigil_bmc\",sensor=\"pwm1\"} 0.2\n",
        "node_hwmon_sensor_label{chip=\"nct6775\",sensor=\"fan2\",label=\"Rear \\\"quoted\\\" "
        "fan\"} 1\n",
        "vigil_sensor_simulated{chip=\"vigil_bmc\",sensor=\"temp1\"} 1\n",
        "vigil_sensor_simulated{chip=\"nct6775\",sensor=\"in0\"} 0\n",
        "vigil_sensor_health{chip=\"vigil_bmc\",sensor=\"temp1\"} 1\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(prom, want[i]))
            fail_msg("missing %s in:\n%s", want[i], prom);
    assert_null(strstr(prom, "fan_min_rpm{chip=\"nct6775\",sensor=\"fan1\"}")); /* 0 = unset */
    free(prom);
    sensors_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hwmon_discovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hwmon_alarms_follow_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thermal_only_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_falls_back_to_sim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_follows_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_load_from_proc_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sim_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_hysteresis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_thresholds, setup, teardown),
        cmocka_unit_test(test_next_health_pure),
        cmocka_unit_test_setup_teardown(test_json_and_prometheus, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
