/* events.h: one call records a system event in the SEL and in hv's log. */
#ifndef HV_EVENTS_H
#define HV_EVENTS_H

#include "bmc/sel.h"
#include "vmm/hv.h"

/* Appends to the system event log (when open) and logs it; returns the SEL id (0 if none). */
uint64_t hv_event(struct hv *hv, enum sel_severity sev, enum sel_type type, const struct vm *vm,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The default bound on SEL entries one VM can cause from one source (--sel-rate-limit). */
#define EVENTS_RATE_BURST    10u
#define EVENTS_RATE_PERIOD_S 60u

/* hv_event for an entry the guest `vm` can cause at will, so that it cannot flood the bounded
 * log: it passes hv->cfg.sel_rate's token bucket of (vm, source), or is counted and left out.
 * The first refusal adds one "rate limit reached" entry; the next entry that passes is preceded
 * by "N entries from SOURCE suppressed".  Returns the SEL id, 0 when left out. */
uint64_t hv_event_limited(struct hv *hv, struct vm *vm, const char *source, enum sel_severity sev,
                          enum sel_type type, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Writes the pending "suppressed" summaries of vm's sources that have a token again (the
 * main loop calls it, so a flood that stopped is still summed up). */
void hv_event_flush_suppressed(struct hv *hv, struct vm *vm);
/* vmm's device_error hook: a rate-limited SEL entry naming the device and the reason. */
void events_device_error(struct vm *vm, const char *device, const char *reason);

/* A sensors_alarm_fn (ctx: the struct hv): records a sensor's health change as a system event,
 * its health as the severity and its unit as the SEL sensor type (docs/sel-and-sensors.md). */
void hv_sensor_alarm_event(void *hv, const struct sensor *s, enum sensor_health old_h,
                           enum sensor_health new_h);

#endif
