/* Host sensors from sysfs: hwmon temp/in/fan inputs with labels and limits, and thermal zones. */
#include "bmc/sensors_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* snprintf for paths: false (and the caller skips the file) when it would not fit. */
static bool __attribute__((format(printf, 3, 4))) pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

/* Reads a small sysfs file, trailing whitespace trimmed; false if unreadable or empty. */
static bool read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n <= 0)
        return false;
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    return n > 0;
}

static bool read_num(const char *path, double *v)
{
    char buf[64], *end;
    if (!read_text(path, buf, sizeof(buf)))
        return false;
    errno = 0;
    *v = strtod(buf, &end);
    return !errno && end != buf && *end == '\0';
}

double sensors_hw_read(const struct sensor_slot *slot)
{
    double v;
    return read_num(slot->input, &v) ? v * slot->scale : NAN;
}

/* node_exporter's cleanMetricName: lower case, [^a-z0-9:_] -> '_', '_' trimmed at the ends. */
static void clean_name(char *out, size_t len, const char *in)
{
    size_t o = 0;
    for (; *in && o + 1 < len; in++) {
        char c = (char)tolower((unsigned char)*in);
        out[o++] = (isalnum((unsigned char)c) || c == ':' || c == '_') ? c : '_';
    }
    while (o && out[o - 1] == '_')
        o--;
    out[o] = '\0';
    size_t lead = strspn(out, "_");
    memmove(out, out + lead, o - lead + 1);
}

/* The chip label node_exporter would use, so existing dashboards match (hwmonName()). */
static void chip_name(const char *dir, const char *entry, char *out, size_t len)
{
    char p[PATH_MAX], real[PATH_MAX], buf[SENSOR_NAME_MAX];

    if (pathf(p, sizeof(p), "%s/%s/device", dir, entry) && realpath(p, real)) {
        char dev[SENSOR_NAME_MAX], type[SENSOR_NAME_MAX];
        char *slash = strrchr(real, '/');
        clean_name(dev, sizeof(dev), slash ? slash + 1 : real);
        if (slash)
            *slash = '\0';
        slash = strrchr(real, '/');
        clean_name(type, sizeof(type), slash ? slash + 1 : real);
        if (dev[0] && type[0]) {
            snprintf(out, len, "%.*s_%.*s", SENSOR_NAME_MAX / 2 - 1, type, SENSOR_NAME_MAX / 2 - 1,
                     dev);
            return;
        }
        if (dev[0]) {
            snprintf(out, len, "%s", dev);
            return;
        }
    }
    if (pathf(p, sizeof(p), "%s/%s/name", dir, entry) && read_text(p, buf, sizeof(buf))) {
        clean_name(out, len, buf);
        if (out[0])
            return;
    }
    clean_name(out, len, entry);
}

static const struct hw_kind {
    const char *prefix;
    enum sensor_unit unit;
    double scale;
    /* the sysfs limit attribute of each threshold, by enum sensor_threshold */
    const char *limits[SENSOR_TH_COUNT];
} kinds[] = {
    {"temp", SENSOR_CEL, 0.001, {"lcrit", "min", "max", "crit"}},
    {"in", SENSOR_VOLTS, 0.001, {"lcrit", "min", "max", "crit"}},
    {"fan", SENSOR_RPM, 1.0, {NULL, "min", "max", NULL}},
};

static double limit(const char *attrdir, const char *stem, const char *attr, double scale,
                    bool zero_unset)
{
    char p[PATH_MAX];
    double v;
    if (!attr)
        return NAN;
    if (!pathf(p, sizeof(p), "%s/%s_%s", attrdir, stem, attr) || !read_num(p, &v) ||
        (zero_unset && v == 0))
        return NAN; /* many drivers report an unprogrammed voltage/fan limit as 0 */
    return v * scale;
}

static double default_hysteresis(const struct sensor *pub)
{
    double ref = NAN; /* the lowest threshold the sensor has */
    for (int i = 0; i < SENSOR_TH_COUNT && isnan(ref); i++)
        ref = sensor_threshold_get(&pub->th, (enum sensor_threshold)i);
    if (pub->unit == SENSOR_CEL)
        return 2.0;
    if (pub->unit == SENSOR_RPM)
        return isnan(ref) ? 100 : ref * 0.05 < 50 ? 50 : ref * 0.05;
    ref = isnan(ref) ? 1.0 : ref < 0 ? -ref : ref;
    return ref * 0.01 < 0.005 ? 0.005 : ref * 0.01;
}

/* Adds every <kind><n>_input under attrdir; returns how many, or -ENOMEM. */
static int scan_attrs(struct sensors *s, const char *attrdir, const char *chip, const char *driver)
{
    struct dirent **ents;
    int n = scandir(attrdir, &ents, NULL, versionsort), added = 0;

    for (int i = 0; i < n; i++) {
        const char *f = ents[i]->d_name;
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && added >= 0; k++) {
            const struct hw_kind *kd = &kinds[k];
            size_t pl = strlen(kd->prefix);
            char *end, stem[16], p[PATH_MAX];
            if (strncmp(f, kd->prefix, pl) || !isdigit((unsigned char)f[pl]))
                continue;
            unsigned long idx = strtoul(f + pl, &end, 10);
            if (strcmp(end, "_input") || idx > 9999)
                continue;
            struct sensor pub = {.unit = kd->unit, .source = SENSOR_SRC_HWMON};
            snprintf(stem, sizeof(stem), "%s%lu", kd->prefix, idx);
            snprintf(pub.chip, sizeof(pub.chip), "%s", chip);
            snprintf(pub.chip_name, sizeof(pub.chip_name), "%s", driver);
            snprintf(pub.chip_sensor, sizeof(pub.chip_sensor), "%s", stem);
            snprintf(pub.name, sizeof(pub.name), "%.*s_%s", SENSOR_NAME_MAX - 17, chip, stem);
            if (!pathf(p, sizeof(p), "%s/%s_label", attrdir, stem) ||
                !read_text(p, pub.label, sizeof(pub.label)))
                snprintf(pub.label, sizeof(pub.label), "%s", stem);
            bool cpu = strstr(chip, "coretemp") || strstr(chip, "k10temp");
            snprintf(pub.context, sizeof(pub.context), "%s",
                     kd->unit == SENSOR_RPM     ? "Fan"
                     : kd->unit == SENSOR_VOLTS ? "VoltageRegulator"
                     : cpu                      ? "CPU"
                                                : "SystemBoard");
            bool zero_unset = kd->unit != SENSOR_CEL;
            for (int t = 0; t < SENSOR_TH_COUNT; t++)
                sensor_threshold_set(&pub.th, (enum sensor_threshold)t,
                                     limit(attrdir, stem, kd->limits[t], kd->scale, zero_unset));
            pub.hysteresis = default_hysteresis(&pub);
            if (!pathf(p, sizeof(p), "%s/%s", attrdir, f))
                continue;
            struct sensor_slot *slot = sensors_add(s, &pub);
            if (!slot || !(slot->input = strdup(p)))
                added = -ENOMEM;
            else
                slot->scale = kd->scale, added++;
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    return added;
}

static int only_prefix(const struct dirent *d, const char *prefix)
{
    return !strncmp(d->d_name, prefix, strlen(prefix));
}

static int is_hwmon(const struct dirent *d)
{
    return only_prefix(d, "hwmon");
}

static int is_zone(const struct dirent *d)
{
    return only_prefix(d, "thermal_zone");
}

int sensors_hwmon_discover(struct sensors *s)
{
    char dir[PATH_MAX], attrdir[PATH_MAX + 64], chip[SENSOR_NAME_MAX], driver[SENSOR_NAME_MAX];
    struct dirent **ents;
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/class/hwmon", s->sysfs_root);
    int n = scandir(dir, &ents, is_hwmon, versionsort);
    for (int i = 0; i < n; i++) {
        if (rc >= 0) {
            chip_name(dir, ents[i]->d_name, chip, sizeof(chip));
            /* node_exporter's chip_name label: the name file as the driver wrote it */
            if (!pathf(attrdir, sizeof(attrdir), "%s/%s/name", dir, ents[i]->d_name) ||
                !read_text(attrdir, driver, sizeof(driver)))
                snprintf(driver, sizeof(driver), "%s", chip);
            if (pathf(attrdir, sizeof(attrdir), "%s/%s", dir, ents[i]->d_name))
                rc = scan_attrs(s, attrdir, chip, driver);
            /* older drivers keep their attributes on the parent device */
            if (rc == 0 && pathf(attrdir, sizeof(attrdir), "%s/%s/device", dir, ents[i]->d_name))
                rc = scan_attrs(s, attrdir, chip, driver);
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    return rc < 0 ? rc : 0;
}

static void zone_trips(const char *zdir, struct sensor_thresholds *th)
{
    char p[PATH_MAX + 64], type[32];
    double t;
    for (int k = 0; k < 32; k++) {
        if (!pathf(p, sizeof(p), "%s/trip_point_%d_type", zdir, k) ||
            !read_text(p, type, sizeof(type)))
            break;
        if (!pathf(p, sizeof(p), "%s/trip_point_%d_temp", zdir, k) || !read_num(p, &t) || t <= 0)
            continue;
        t *= 0.001;
        if (!strcmp(type, "critical"))
            th->upper_critical = t;
        else if (!strcmp(type, "hot") || (!strcmp(type, "passive") && isnan(th->upper_caution)))
            th->upper_caution = t;
    }
}

int sensors_thermal_discover(struct sensors *s)
{
    char dir[PATH_MAX], zdir[PATH_MAX + 64], p[PATH_MAX + 80];
    struct dirent **ents;
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/class/thermal", s->sysfs_root);
    int n = scandir(dir, &ents, is_zone, versionsort);
    for (int i = 0; i < n; i++) {
        const char *zone = ents[i]->d_name + strlen("thermal_zone");
        bool fits = pathf(zdir, sizeof(zdir), "%s/%s", dir, ents[i]->d_name) &&
                    pathf(p, sizeof(p), "%s/temp", zdir);
        if (fits && rc == 0 && isdigit((unsigned char)*zone) && access(p, R_OK) == 0) {
            struct sensor pub = {.unit = SENSOR_CEL, .source = SENSOR_SRC_THERMAL, .hysteresis = 2};
            pub.th = (struct sensor_thresholds){NAN, NAN, NAN, NAN};
            zone_trips(zdir, &pub.th);
            snprintf(pub.name, sizeof(pub.name), "%.63s", ents[i]->d_name);
            snprintf(pub.chip, sizeof(pub.chip), "thermal");
            snprintf(pub.chip_sensor, sizeof(pub.chip_sensor), "%.15s", zone);
            char type[PATH_MAX + 80];
            if (!pathf(type, sizeof(type), "%s/type", zdir) ||
                !read_text(type, pub.label, sizeof(pub.label)))
                snprintf(pub.label, sizeof(pub.label), "%.63s", ents[i]->d_name);
            bool cpu = strstr(pub.label, "pkg") || strstr(pub.label, "cpu");
            snprintf(pub.context, sizeof(pub.context), "%s", cpu ? "CPU" : "SystemBoard");
            struct sensor_slot *slot = sensors_add(s, &pub);
            if (!slot || !(slot->input = strdup(p)))
                rc = -ENOMEM;
            else
                slot->scale = 0.001;
        }
        free(ents[i]);
    }
    if (n >= 0)
        free(ents);
    return rc;
}
