/* Unit tests for the simulated chassis and threshold health with hysteresis. */
#include "sensors_fixture.h"

#include <errno.h>

static void test_sim_follows_load(void **state)
{
    struct fx *f = *state;
    struct alarms a = {0};
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_SIM, 7, &a);
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
    fx_put(f->dir, "stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n");
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_SIM, 1, NULL);
    sensors_poll_at(s, 0);
    assert_true(fabs(sensors_load(s) - 0.2) < 1e-9); /* since boot on the first poll */
    fx_put(f->dir, "stat", "cpu  600 0 100 1300 0 0 0 0 0 0\n");
    sensors_poll_at(s, SEC);
    assert_true(fabs(sensors_load(s) - 0.5) < 1e-9);
    sensors_poll_at(s, 2 * SEC); /* no ticks elapsed: keep the last load */
    assert_true(fabs(sensors_load(s) - 0.5) < 1e-9);
    sensors_set_load(s, 0.9);
    sensors_poll_at(s, 3 * SEC);
    assert_true(fabs(sensors_load(s) - 0.9) < 1e-9);
    sensors_set_load(s, NAN);
    fx_put(f->dir, "stat", "cpu  700 0 100 2200 0 0 0 0 0 0\n");
    sensors_poll_at(s, 4 * SEC);
    assert_true(fabs(sensors_load(s) - 0.1) < 1e-9);
    sensors_close(s);
}

static void test_sim_deterministic(void **state)
{
    struct fx *f = *state;
    struct sensors *a = open_ok(f->dir, f->dir, SENSORS_SIM, 42, NULL);
    struct sensors *b = open_ok(f->dir, f->dir, SENSORS_SIM, 42, NULL);
    struct sensors *c = open_ok(f->dir, f->dir, SENSORS_SIM, 43, NULL);
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
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_SIM, 1, &a);
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
    struct sensors *s = open_ok(f->dir, f->dir, SENSORS_SIM, 1, &a);
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
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sim_follows_load, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sim_load_from_proc_stat, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_sim_deterministic, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_override_hysteresis, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_set_thresholds, fx_setup, fx_teardown),
        cmocka_unit_test(test_next_health_pure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
