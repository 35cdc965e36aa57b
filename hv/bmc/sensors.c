/* Sensor registry: discovery by mode, polling, threshold health with hysteresis, alarms. */
#include "bmc/sensors.h"
#include "bmc/sensors_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct alarm {
    struct sensor snap;
    enum sensor_health old_h, new_h;
};

struct sensor_slot *sensors_add(struct sensors *s, const struct sensor *pub)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct sensor_slot *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        s->v = v, s->cap = cap;
    }
    struct sensor_slot *slot = &s->v[s->n];
    memset(slot, 0, sizeof(*slot));
    slot->pub = *pub;
    slot->pub.reading = NAN;
    slot->pub.health = SENSOR_OK;
    slot->scale = 1;
    /* Names are API ids (Redfish Sensors/{id}); two chips may share a name. */
    for (unsigned k = 2; k < 100; k++) {
        bool clash = false;
        for (size_t i = 0; i < s->n && !clash; i++)
            clash = !strcmp(s->v[i].pub.name, slot->pub.name);
        if (!clash)
            break;
        snprintf(slot->pub.name, sizeof(slot->pub.name), "%.*s_%u", SENSOR_NAME_MAX - 4, pub->name,
                 k);
    }
    s->n++;
    return slot;
}

/* NULL when `which` is out of range. */
static double *threshold_field(struct sensor_thresholds *th, enum sensor_threshold which)
{
    switch (which) {
    case SENSOR_TH_LOWER_CRITICAL:
        return &th->lower_critical;
    case SENSOR_TH_LOWER_CAUTION:
        return &th->lower_caution;
    case SENSOR_TH_UPPER_CAUTION:
        return &th->upper_caution;
    case SENSOR_TH_UPPER_CRITICAL:
        return &th->upper_critical;
    default:
        return NULL;
    }
}

double sensor_threshold_get(const struct sensor_thresholds *th, enum sensor_threshold which)
{
    struct sensor_thresholds copy = *th;
    const double *f = threshold_field(&copy, which);
    return f ? *f : NAN;
}

void sensor_threshold_set(struct sensor_thresholds *th, enum sensor_threshold which, double v)
{
    double *f = threshold_field(th, which);
    if (f)
        *f = v;
}

const char *sensor_threshold_name(enum sensor_threshold which)
{
    static const char *const names[SENSOR_TH_COUNT] = {
        [SENSOR_TH_LOWER_CRITICAL] = "LowerCritical",
        [SENSOR_TH_LOWER_CAUTION] = "LowerCaution",
        [SENSOR_TH_UPPER_CAUTION] = "UpperCaution",
        [SENSOR_TH_UPPER_CRITICAL] = "UpperCritical",
    };
    return (unsigned)which < SENSOR_TH_COUNT ? names[which] : "?";
}

/* Level of v against thresholds pulled `shift` towards the normal range. */
static enum sensor_health level(double v, const struct sensor_thresholds *t, double shift)
{
    /* Comparisons with a NAN (absent) threshold are false, so absent ones never trip. */
    if (v >= t->upper_critical - shift || v <= t->lower_critical + shift)
        return SENSOR_CRITICAL;
    if (v >= t->upper_caution - shift || v <= t->lower_caution + shift)
        return SENSOR_WARNING;
    return SENSOR_OK;
}

enum sensor_health sensor_next_health(const struct sensor *s, double v)
{
    if (isnan(v))
        return s->health;
    enum sensor_health worse = level(v, &s->th, 0);
    if (worse > s->health)
        return worse;
    /* Getting better needs the reading back inside by the hysteresis band: no flapping. */
    enum sensor_health better = level(v, &s->th, s->hysteresis);
    return better < s->health ? better : s->health;
}

/* Caller holds mu. */
static void update(struct sensor_slot *slot, double v, struct alarm *out, size_t *nout)
{
    enum sensor_health old_h = slot->pub.health;
    slot->pub.reading = v;
    slot->pub.health = sensor_next_health(&slot->pub, v);
    if (slot->pub.health != old_h)
        out[(*nout)++] = (struct alarm){slot->pub, old_h, slot->pub.health};
}

static double read_slot(struct sensors *s, const struct sensor_slot *slot)
{
    if (slot->pub.overridden)
        return slot->override_val;
    return slot->pub.source == SENSOR_SRC_SIM ? sensors_sim_read(s, slot) : sensors_hw_read(slot);
}

static void fire(struct sensors *s, const struct alarm *a, size_t n)
{
    for (size_t i = 0; i < n && s->on_alarm; i++)
        s->on_alarm(s->ctx, &a[i].snap, a[i].old_h, a[i].new_h);
}

int sensors_poll_at(struct sensors *s, uint64_t mono_ns)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    struct alarm *a = malloc((s->n + 1) * sizeof(*a));
    if (!a) {
        pthread_mutex_unlock(&s->mu);
        return -ENOMEM;
    }
    if (s->has_sim)
        sensors_sim_step(s, mono_ns);
    for (size_t i = 0; i < s->n; i++)
        update(&s->v[i], read_slot(s, &s->v[i]), a, &n);
    pthread_mutex_unlock(&s->mu);
    fire(s, a, n);
    free(a);
    return (int)n;
}

int sensors_poll(struct sensors *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return sensors_poll_at(s, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

static struct sensor_slot *find(struct sensors *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].pub.name, name))
            return &s->v[i];
    return NULL;
}

int sensors_override(struct sensors *s, const char *name, double value)
{
    struct alarm a;
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    struct sensor_slot *slot = find(s, name);
    if (slot) {
        slot->pub.overridden = !isnan(value);
        slot->override_val = value;
        update(slot, read_slot(s, slot), &a, &n);
    }
    pthread_mutex_unlock(&s->mu);
    fire(s, &a, n);
    return slot ? 0 : -ENOENT;
}

int sensors_set_thresholds(struct sensors *s, const char *name, const struct sensor_thresholds *th)
{
    pthread_mutex_lock(&s->mu);
    struct sensor_slot *slot = find(s, name);
    if (slot)
        slot->pub.th = *th; /* health follows at the next poll, with the usual alarms */
    pthread_mutex_unlock(&s->mu);
    return slot ? 0 : -ENOENT;
}

size_t sensors_count(struct sensors *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool sensors_get(struct sensors *s, size_t i, struct sensor *out)
{
    pthread_mutex_lock(&s->mu);
    bool ok = i < s->n;
    if (ok)
        *out = s->v[i].pub;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool sensors_find(struct sensors *s, const char *name, struct sensor *out)
{
    pthread_mutex_lock(&s->mu);
    struct sensor_slot *slot = find(s, name);
    if (slot)
        *out = slot->pub;
    pthread_mutex_unlock(&s->mu);
    return slot != NULL;
}

void sensors_set_load(struct sensors *s, double load)
{
    pthread_mutex_lock(&s->mu);
    s->sim.forced_load = isnan(load) ? NAN : load < 0 ? 0 : load > 1 ? 1 : load;
    pthread_mutex_unlock(&s->mu);
}

double sensors_load(struct sensors *s)
{
    pthread_mutex_lock(&s->mu);
    double l = s->sim.load;
    pthread_mutex_unlock(&s->mu);
    return l;
}

int sensors_open(struct sensors **out, const struct sensors_config *cfg, char *err, size_t errlen)
{
    int rc = 0;
    struct sensors *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->sysfs_root = strdup(cfg->sysfs_root ? cfg->sysfs_root : "/sys");
    s->proc_root = strdup(cfg->proc_root ? cfg->proc_root : "/proc");
    s->on_alarm = cfg->on_alarm;
    s->ctx = cfg->ctx;
    s->sim.rng = cfg->seed ? cfg->seed : 0x5eed5eed5eedull;
    s->sim.forced_load = NAN;
    if (!s->sysfs_root || !s->proc_root)
        rc = -ENOMEM;
    if (!rc && cfg->mode != SENSORS_SIM) {
        rc = sensors_hwmon_discover(s);
        /* Most thermal zones also register a hwmon device: use them only when it has none. */
        bool hw_temp = false;
        for (size_t i = 0; i < s->n; i++)
            hw_temp |= s->v[i].pub.unit == SENSOR_CEL;
        if (rc >= 0 && !hw_temp)
            rc = sensors_thermal_discover(s);
    }
    bool want_sim = cfg->mode == SENSORS_SIM || cfg->mode == SENSORS_BOTH ||
                    (cfg->mode == SENSORS_AUTO && s->n == 0);
    if (rc >= 0 && want_sim)
        rc = sensors_sim_discover(s);
    if (rc < 0) {
        snprintf(err, errlen, "sensor discovery: %s", strerror(-rc));
        sensors_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sensors_close(struct sensors *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].input);
    free(s->v);
    free(s->sysfs_root);
    free(s->proc_root);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *sensor_health_name(enum sensor_health h)
{
    static const char *const names[] = {"OK", "Warning", "Critical"};
    return (unsigned)h <= SENSOR_CRITICAL ? names[h] : "Critical";
}

const char *sensor_unit_name(enum sensor_unit u)
{
    static const char *const names[] = {"Cel", "V", "RPM", "%"};
    return (unsigned)u <= SENSOR_PERCENT ? names[u] : "";
}

size_t sensor_alarm_message(const struct sensor *s, enum sensor_health old_h,
                            enum sensor_health new_h, char *buf, size_t len)
{
    const struct sensor_thresholds *t = &s->th;
    const char *which = NULL;
    double at = NAN;
    const char *u = sensor_unit_name(s->unit);
    int n;

    if (new_h == SENSOR_CRITICAL)
        which = s->reading >= t->upper_critical ? "UpperCritical" : "LowerCritical",
        at = s->reading >= t->upper_critical ? t->upper_critical : t->lower_critical;
    else if (new_h == SENSOR_WARNING && new_h > old_h)
        which = s->reading >= t->upper_caution ? "UpperCaution" : "LowerCaution",
        at = s->reading >= t->upper_caution ? t->upper_caution : t->lower_caution;
    if (which)
        n = snprintf(buf, len, "%s %.4g %s crossed %s %.4g %s (%s -> %s)", s->label, s->reading, u,
                     which, at, u, sensor_health_name(old_h), sensor_health_name(new_h));
    else
        n = snprintf(buf, len, "%s %.4g %s recovered (%s -> %s)", s->label, s->reading, u,
                     sensor_health_name(old_h), sensor_health_name(new_h));
    return n < 0 ? 0 : (size_t)n;
}
