/* Unit tests for host sensors from fake sysfs trees, and the JSON/Prometheus renderings. */
#include "sensors_fixture.h"

#include <errno.h>

static void fake_hwmon(const char *sys)
{
    fx_put(sys, "devices/platform/coretemp.0/uevent", "");
    fx_put(sys, "class/hwmon/hwmon0/name", "coretemp\n");
    link_dev(sys, "class/hwmon/hwmon0/device", "devices/platform/coretemp.0");
    fx_put(sys, "class/hwmon/hwmon0/temp1_input", "45000\n");
    fx_put(sys, "class/hwmon/hwmon0/temp1_label", "Package id 0\n");
    fx_put(sys, "class/hwmon/hwmon0/temp1_max", "80000\n");
    fx_put(sys, "class/hwmon/hwmon0/temp1_crit", "100000\n");
    fx_put(sys, "class/hwmon/hwmon0/temp2_input", "43000\n");
    fx_put(sys, "class/hwmon/hwmon1/name", "nct6775\n"); /* no device link: chip from name */
    fx_put(sys, "class/hwmon/hwmon1/in0_input", "1200\n");
    fx_put(sys, "class/hwmon/hwmon1/in0_min", "1000\n");
    fx_put(sys, "class/hwmon/hwmon1/in0_max", "1400\n");
    fx_put(sys, "class/hwmon/hwmon1/fan1_input", "1500\n");
    fx_put(sys, "class/hwmon/hwmon1/fan1_min", "0\n"); /* unprogrammed: no threshold */
    fx_put(sys, "class/hwmon/hwmon1/fan2_input", "900\n");
    fx_put(sys, "class/hwmon/hwmon1/fan2_min", "600\n");
    fx_put(sys, "class/hwmon/hwmon1/fan2_label", "Rear \"quoted\" fan\n");
    fx_put(sys, "class/hwmon/hwmon1/pwm1", "128\n"); /* not a sensor we read */
    /* An old-style driver whose attributes live on the device. */
    fx_put(sys, "devices/pci0000:00/0000:00:18.3/temp1_input", "51500\n");
    link_dev(sys, "class/hwmon/hwmon2/device", "devices/pci0000:00/0000:00:18.3");
    /* Duplicated by hwmon in real life: must be ignored while hwmon has temperatures. */
    fx_put(sys, "class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
    fx_put(sys, "class/thermal/thermal_zone0/temp", "45000\n");
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
    fake_hwmon(f->dir);
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_AUTO, 1, NULL);
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
    s = open_ok(f->dir, f->dir, SENSORS_BOTH, 1, NULL);
    assert_int_equal(sensors_count(s), 6 + 11);
    sensors_close(s);
}

static void test_hwmon_alarms_follow_files(void **state)
{
    struct fx *f = *state;
    struct alarms a = {0};
    fake_hwmon(f->dir);
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_REAL, 1, &a);
    sensors_poll_at(s, 0);
    assert_int_equal(a.n, 0);
    fx_put(f->dir, "class/hwmon/hwmon0/temp1_input", "85000\n");
    assert_int_equal(sensors_poll_at(s, SEC), 1);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.name[0], "platform_coretemp_0_temp1");
    assert_int_equal(a.to[0], SENSOR_WARNING);
    sensors_poll_at(s, 2 * SEC);
    fx_put(f->dir, "class/hwmon/hwmon0/temp1_input", "79000\n"); /* inside the 2 Cel band */
    sensors_poll_at(s, 3 * SEC);
    assert_int_equal(a.n, 1);
    fx_put(f->dir, "class/hwmon/hwmon0/temp1_input", "77900\n");
    sensors_poll_at(s, 4 * SEC);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.to[1], SENSOR_OK);
    fx_put(f->dir, "class/hwmon/hwmon1/fan2_input", "550\n"); /* a slowing fan: lower caution */
    sensors_poll_at(s, 5 * SEC);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.name[2], "nct6775_fan2");
    assert_int_equal(a.to[2], SENSOR_WARNING);
    char gone[256];
    snprintf(gone, sizeof(gone), "%s/class/hwmon/hwmon1/fan2_input", f->dir);
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
    fx_put(f->dir, "class/thermal/thermal_zone0/type", "x86_pkg_temp\n");
    fx_put(f->dir, "class/thermal/thermal_zone0/temp", "52000\n");
    fx_put(f->dir, "class/thermal/thermal_zone0/trip_point_0_type", "passive\n");
    fx_put(f->dir, "class/thermal/thermal_zone0/trip_point_0_temp", "95000\n");
    fx_put(f->dir, "class/thermal/thermal_zone0/trip_point_1_type", "critical\n");
    fx_put(f->dir, "class/thermal/thermal_zone0/trip_point_1_temp", "105000\n");
    fx_put(f->dir, "class/thermal/thermal_zone1/type", "acpitz\n");
    fx_put(f->dir, "class/thermal/thermal_zone1/temp", "27800\n");
    fx_put(f->dir, "class/thermal/cooling_device0/type", "Processor\n");
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_AUTO, 1, NULL);
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
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_AUTO, 1, NULL);
    assert_int_equal(sensors_count(s), 11);
    struct sensor x;
    for (size_t i = 0; i < sensors_count(s); i++) {
        assert_true(sensors_get(s, i, &x));
        assert_int_equal(x.source, SENSOR_SRC_SIM);
    }
    assert_false(sensors_get(s, 11, &x));
    sensors_close(s);
    s = open_ok(f->dir, f->dir, SENSORS_REAL, 1, NULL);
    assert_int_equal(sensors_count(s), 0);
    assert_int_equal(sensors_poll(s), 0);
    sensors_close(s);
}

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
    fake_hwmon(f->dir);
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_BOTH, 1, NULL);
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
              "\"vigil_bmc\", \"ChipName\": \"vigil_bmc\", \"Hysteresis\": 2.0, \"Overridden\": "
              "true, \"Sensor\": \"temp1\", "
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
        /* one per chip, the driver's name beside node_exporter's chip label */
        "node_hwmon_chip_names{chip=\"platform_coretemp_0\",chip_name=\"coretemp\"} 1\n",
        "node_hwmon_chip_names{chip=\"nct6775\",chip_name=\"nct6775\"} 1\n",
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

/* Each threshold field is reached by its own index and name, in both directions, and lands in
 * the JSON under its own Redfish key: no field is reached by indexing past another. */
static void test_threshold_fields_round_trip(void **state)
{
    (void)state;
    static const char *const keys[] = {"LowerCritical", "LowerCaution", "UpperCaution",
                                       "UpperCritical"};
    for (int i = 0; i < SENSOR_TH_COUNT; i++) {
        enum sensor_threshold which = (enum sensor_threshold)i;
        struct sensor x = {.name = "t", .label = "T", .th = {NAN, NAN, NAN, NAN}};
        double *named[] = {&x.th.lower_critical, &x.th.lower_caution, &x.th.upper_caution,
                           &x.th.upper_critical};
        *named[i] = 10.0 + i;
        for (int j = 0; j < SENSOR_TH_COUNT; j++)
            assert_true(j == i ? sensor_threshold_get(&x.th, (enum sensor_threshold)j) == 10.0 + i
                               : isnan(sensor_threshold_get(&x.th, (enum sensor_threshold)j)));
        sensor_threshold_set(&x.th, which, 20.0 + i);
        assert_true(*named[i] == 20.0 + i);
        for (int j = 0; j < SENSOR_TH_COUNT; j++)
            assert_true(j == i || isnan(*named[j]));
        assert_string_equal(sensor_threshold_name(which), keys[i]);
        json_t *j = sensor_json(&x), *th = json_object_get(j, "Thresholds");
        assert_int_equal(json_object_size(th), 1);
        assert_true(json_real_value(json_object_get(json_object_get(th, keys[i]), "Reading")) ==
                    20.0 + i);
        json_decref(j);
    }
    assert_true(
        isnan(sensor_threshold_get(&(struct sensor_thresholds){0, 0, 0, 0}, SENSOR_TH_COUNT)));
    assert_string_equal(sensor_threshold_name(SENSOR_TH_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hwmon_discovery, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_hwmon_alarms_follow_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_thermal_only_host, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auto_falls_back_to_sim, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_json_and_prometheus, fx_setup, fx_teardown),
        cmocka_unit_test(test_threshold_fields_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
