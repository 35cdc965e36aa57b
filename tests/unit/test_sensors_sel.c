/* Integration: sensor alarms written to the SEL by hv's own glue (hv_sensor_alarm_event). */
#include "fixture.h"

#include "bmc/sel.h"
#include "bmc/sensors.h"
#include "supervisor/events.h"

#include <math.h>

static void test_override_lands_in_sel(void **state)
{
    struct fx *f = *state;
    struct sel *log;
    struct sensors *s;
    char err[256];
    assert_int_equal(sel_open(&log, f->path, 64, err, sizeof(err)), 0);
    /* hv's glue needs no more of hv than its event log. */
    struct hv *hv = calloc(1, sizeof(*hv));
    assert_non_null(hv);
    hv->sel = log;
    struct sensors_config cfg = {f->dir, f->dir, SENSORS_SIM, 1, hv_sensor_alarm_event, hv};
    assert_int_equal(sensors_open(&s, &cfg, err, sizeof(err)), 0);
    sensors_set_load(s, 0);
    sensors_poll(s);
    assert_int_equal(sel_last_id(log), 0);

    sensors_override(s, "cpu_temp", 97);
    sensors_override(s, "sys_fan2", 300);
    sensors_override(s, "cpu_temp", NAN);
    struct sel_entry e[4];
    assert_int_equal(sel_read(log, 0, e, 4), 3);
    assert_int_equal(e[0].severity, SEL_CRITICAL);
    assert_int_equal(e[0].type, SEL_T_SENSOR_TEMP);
    assert_string_equal(e[0].message,
                        "CPU Temp 97 Cel crossed UpperCritical 95 Cel (OK -> Critical)");
    assert_int_equal(e[1].type, SEL_T_SENSOR_FAN);
    assert_string_equal(e[1].message,
                        "System Fan 2 300 RPM crossed LowerCritical 400 RPM (OK -> Critical)");
    assert_int_equal(e[2].severity, SEL_OK);
    assert_non_null(strstr(e[2].message, "recovered (Critical -> OK)"));

    json_t *j = sel_entry_json(&e[1]);
    assert_string_equal(json_string_value(json_object_get(j, "SensorType")), "Fan");
    assert_string_equal(json_string_value(json_object_get(j, "EntryCode")), "Assert");
    json_decref(j);
    sensors_close(s);
    sel_close(log);
    free(hv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_override_lands_in_sel, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
