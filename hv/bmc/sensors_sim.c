/* Simulated chassis: temperatures that follow host CPU load with thermal lag, fans on a curve,
   rail voltages with seeded noise; for hosts (and VMs) that expose no hardware sensors. */
#include "bmc/sensors_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_CHIP "vigil_bmc"

enum sim_id {
    SIM_CPU_TEMP,
    SIM_INLET,
    SIM_EXHAUST,
    SIM_CPU_FAN,
    SIM_SYS_FAN1,
    SIM_SYS_FAN2,
    SIM_CPU_DUTY,
    SIM_12V,
    SIM_5V,
    SIM_3V3,
    SIM_VCORE,
};

#define NONE NAN
static const struct sim_def {
    enum sim_id id;
    const char *name, *label, *chip_sensor, *context;
    enum sensor_unit unit;
    struct sensor_thresholds th; /* LowerCritical, LowerCaution, UpperCaution, UpperCritical */
    double hysteresis;
} defs[] = {
    {SIM_CPU_TEMP, "cpu_temp", "CPU Temp", "temp1", "CPU", SENSOR_CEL, {NONE, NONE, 85, 95}, 2},
    {SIM_INLET, "inlet_temp", "Inlet Temp", "temp2", "Intake", SENSOR_CEL, {5, 10, 35, 40}, 1},
    {SIM_EXHAUST,
     "exhaust_temp",
     "Exhaust Temp",
     "temp3",
     "Exhaust",
     SENSOR_CEL,
     {NONE, NONE, 60, 70},
     2},
    {SIM_CPU_FAN, "cpu_fan", "CPU Fan", "fan1", "Fan", SENSOR_RPM, {500, 1000, NONE, NONE}, 100},
    {SIM_SYS_FAN1,
     "sys_fan1",
     "System Fan 1",
     "fan2",
     "Fan",
     SENSOR_RPM,
     {400, 800, NONE, NONE},
     100},
    {SIM_SYS_FAN2,
     "sys_fan2",
     "System Fan 2",
     "fan3",
     "Fan",
     SENSOR_RPM,
     {400, 800, NONE, NONE},
     100},
    {SIM_CPU_DUTY,
     "cpu_fan_duty",
     "CPU Fan Duty",
     "pwm1",
     "Fan",
     SENSOR_PERCENT,
     {NONE, NONE, NONE, NONE},
     2},
    {SIM_12V, "p12v", "12V", "in0", "PowerSupply", SENSOR_VOLTS, {10.8, 11.4, 12.6, 13.2}, 0.12},
    {SIM_5V, "p5v", "5V", "in1", "SystemBoard", SENSOR_VOLTS, {4.5, 4.75, 5.25, 5.5}, 0.05},
    {SIM_3V3,
     "p3v3",
     "3.3V",
     "in2",
     "SystemBoard",
     SENSOR_VOLTS,
     {2.97, 3.135, 3.465, 3.63},
     0.033},
    {SIM_VCORE,
     "vcore",
     "VCORE",
     "in3",
     "VoltageRegulator",
     SENSOR_VOLTS,
     {0.6, 0.7, 1.35, 1.45},
     0.02},
};

int sensors_sim_discover(struct sensors *s)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        const struct sim_def *d = &defs[i];
        struct sensor pub = {
            .unit = d->unit, .source = SENSOR_SRC_SIM, .th = d->th, .hysteresis = d->hysteresis};
        snprintf(pub.name, sizeof(pub.name), "%s", d->name);
        snprintf(pub.label, sizeof(pub.label), "%s", d->label);
        snprintf(pub.chip, sizeof(pub.chip), "%s", SIM_CHIP);
        snprintf(pub.chip_name, sizeof(pub.chip_name), "%s", SIM_CHIP);
        snprintf(pub.chip_sensor, sizeof(pub.chip_sensor), "%s", d->chip_sensor);
        snprintf(pub.context, sizeof(pub.context), "%s", d->context);
        struct sensor_slot *slot = sensors_add(s, &pub);
        if (!slot)
            return -ENOMEM;
        slot->sim_id = d->id;
    }
    s->has_sim = true;
    return 0;
}

/* splitmix64: tiny, seedable, and good enough for sensor jitter. */
static double uniform(struct sim_state *m)
{
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static double noise(struct sim_state *m, double amp)
{
    return amp * (2 * uniform(m) - 1);
}

/* Busy share of CPU time since the last call (since boot on the first), from /proc/stat. */
static bool proc_load(struct sensors *s, double *load)
{
    char path[4200], line[512];
    unsigned long long v[8] = {0};
    snprintf(path, sizeof(path), "%s/stat", s->proc_root);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(line, sizeof(line), f) &&
              sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4;
    fclose(f);
    if (!ok)
        return false;
    unsigned long long total = 0, idle = v[3] + v[4]; /* idle + iowait */
    for (int i = 0; i < 8; i++)
        total += v[i];
    struct sim_state *m = &s->sim;
    unsigned long long dt = total - m->prev_total, di = idle - m->prev_idle;
    if (!m->have_prev)
        dt = total, di = idle;
    ok = total >= m->prev_total && idle >= m->prev_idle && dt > 0;
    if (ok)
        *load = 1.0 - (double)di / (double)dt;
    m->prev_total = total, m->prev_idle = idle, m->have_prev = true;
    return ok;
}

/* First-order lag without libm: alpha = dt / (tau + dt) settles like 1 - exp(-dt/tau). */
static void approach(double *t, double target, double dt, double tau)
{
    *t += (target - *t) * (dt / (tau + dt));
}

void sensors_sim_step(struct sensors *s, uint64_t mono_ns)
{
    struct sim_state *m = &s->sim;
    double l;
    if (!isnan(m->forced_load))
        m->load = m->forced_load;
    else if (proc_load(s, &l))
        m->load = l < 0 ? 0 : l > 1 ? 1 : l;
    double inlet = 24 + 2 * m->load; /* a little recirculated heat */
    double cpu = inlet + 12 + 40 * m->load;
    double exhaust = inlet + 4 + 16 * m->load;
    if (!m->started) {
        m->t_inlet = inlet, m->t_cpu = cpu, m->t_exhaust = exhaust;
        m->started = true;
    } else {
        double dt = mono_ns > m->last_ns ? (double)(mono_ns - m->last_ns) / 1e9 : 0;
        approach(&m->t_inlet, inlet, dt, 60);
        approach(&m->t_cpu, cpu, dt, 8);
        approach(&m->t_exhaust, exhaust, dt, 20);
    }
    m->last_ns = mono_ns;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Fan curves: duty in percent from the temperature the fan cools. */
static double cpu_duty(double t)
{
    return clamp(20 + (t - 40) * 2, 20, 100); /* 20% up to 40 Cel, 100% from 80 Cel */
}

static double sys_duty(double t)
{
    return clamp(25 + (t - 30) * 3.75, 25, 100); /* 25% up to 30 Cel, 100% from 50 Cel */
}

static double round_to(double v, double step)
{
    double q = v / step;
    return (double)(long long)(q + (q >= 0 ? 0.5 : -0.5)) * step;
}

double sensors_sim_read(struct sensors *s, const struct sensor_slot *slot)
{
    struct sim_state *m = &s->sim;
    switch ((enum sim_id)slot->sim_id) {
    case SIM_CPU_TEMP:
        return round_to(m->t_cpu + noise(m, 0.25), 0.01);
    case SIM_INLET:
        return round_to(m->t_inlet + noise(m, 0.1), 0.01);
    case SIM_EXHAUST:
        return round_to(m->t_exhaust + noise(m, 0.2), 0.01);
    case SIM_CPU_FAN:
        return round_to(cpu_duty(m->t_cpu) * 60 * (1 + noise(m, 0.01)), 1);
    case SIM_SYS_FAN1:
        return round_to(sys_duty(m->t_exhaust) * 50 * (1 + noise(m, 0.01)), 1);
    case SIM_SYS_FAN2:
        return round_to(sys_duty(m->t_exhaust) * 48 * (1 + noise(m, 0.01)), 1);
    case SIM_CPU_DUTY:
        return round_to(cpu_duty(m->t_cpu), 0.1);
    case SIM_12V:
        return round_to(12 * (1 + noise(m, 0.003)) - 0.05 * m->load, 0.001); /* load droop */
    case SIM_5V:
        return round_to(5 * (1 + noise(m, 0.003)), 0.001);
    case SIM_3V3:
        return round_to(3.3 * (1 + noise(m, 0.003)), 0.001);
    case SIM_VCORE:
        return round_to(0.9 + 0.25 * m->load + noise(m, 0.005), 0.001); /* boost under load */
    }
    return NAN;
}
