/* Shared sensor-test helpers: fake sysfs links, an alarm recorder, and an opener. */
#ifndef VIGIL_TEST_SENSORS_FIXTURE_H
#define VIGIL_TEST_SENSORS_FIXTURE_H

#include "fixture.h"

#include "bmc/sensors.h"

#include <math.h>
#include <unistd.h>

#define SEC 1000000000ull

static inline void link_dev(const char *root, const char *rel, const char *target_rel)
{
    char target[512], path[512];
    snprintf(target, sizeof(target), "%s/%s", root, target_rel);
    mkdir(target, 0755); /* its parents were made by fx_put() */
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

static inline void on_alarm(void *ctx, const struct sensor *s, enum sensor_health old_h,
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

static inline struct sensors *open_ok(const char *sysfs, const char *proc, enum sensors_mode mode,
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

static inline double reading(struct sensors *s, const char *name)
{
    struct sensor x;
    if (!sensors_find(s, name, &x))
        fail_msg("no sensor %s", name);
    return x.reading;
}

#endif
