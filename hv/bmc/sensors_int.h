/* Internal: the sensor registry shared by sensors.c, sensors_hwmon.c and sensors_sim.c. */
#ifndef VIGIL_SENSORS_INT_H
#define VIGIL_SENSORS_INT_H

#include "bmc/sensors.h"

#include <pthread.h>

struct sensor_slot {
    struct sensor pub;
    char *input;         /* sysfs file for real sensors */
    double scale;        /* sysfs units to ours (millidegrees, millivolts) */
    int sim_id;          /* which simulated quantity, for SENSOR_SRC_SIM */
    double override_val; /* valid when pub.overridden */
};

struct sim_state {
    uint64_t rng;
    double forced_load; /* NAN: measure from /proc/stat */
    double load;
    unsigned long long prev_total, prev_idle;
    bool have_prev;
    bool started;
    uint64_t last_ns;
    double t_inlet, t_cpu, t_exhaust; /* model temperatures, before noise */
};

struct sensors {
    pthread_mutex_t mu;
    struct sensor_slot *v;
    size_t n, cap;
    char *sysfs_root;
    char *proc_root;
    sensors_alarm_fn on_alarm;
    void *ctx;
    bool has_sim;
    struct sim_state sim;
};

/* Adds a sensor (name made unique); returns the new slot or NULL on ENOMEM. */
struct sensor_slot *sensors_add(struct sensors *s, const struct sensor *pub);

/* sensors_hwmon.c: discover host sensors; read one. */
int sensors_hwmon_discover(struct sensors *s);
int sensors_thermal_discover(struct sensors *s);
double sensors_hw_read(const struct sensor_slot *slot);

/* sensors_sim.c: add the simulated chassis; advance the model; read one quantity. */
int sensors_sim_discover(struct sensors *s);
void sensors_sim_step(struct sensors *s, uint64_t mono_ns);
double sensors_sim_read(struct sensors *s, const struct sensor_slot *slot);

#endif
