/* events.c: the system event log is the record of what hv did; the diagnostic log mirrors it. */
#include "supervisor/events.h"

#include "base/log.h"
#include "supervisor/evstream.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

/* The buckets of every VM: entries a guest causes are rare, one lock is enough. */
static pthread_mutex_t limits_lock = PTHREAD_MUTEX_INITIALIZER;

uint64_t hv_event(struct hv *hv, enum sel_severity sev, enum sel_type type, const struct vm *vm,
                  const char *fmt, ...)
{
    char msg[SEL_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint64_t id = hv->sel ? sel_append(hv->sel, sev, type, vm ? vm->name : NULL, "%s", msg) : 0;
    enum log_level level = sev == SEL_CRITICAL  ? LOG_ERROR
                           : sev == SEL_WARNING ? LOG_WARN
                                                : LOG_INFO;
    if (type == SEL_T_VM_SWITCH)
        level = LOG_DEBUG; /* the terminal already shows a banner for every switch */
    hv_log(level, "%s%s%s", vm ? vm->name : "", vm ? ": " : "", msg);
    /* The management side hears of it too: the event stream, and a wake-up of the service VM's
     * WAIT (vm->lock: never held by hv_event's callers, "Locks" in docs/hv-layout.md). */
    if (hv->evstream) {
        evstream_push(hv->evstream, id, sev, type, vm ? vm->name : NULL, msg);
        struct vm *svc = atomic_load(&hv->service);
        if (svc)
            vm_raise_event(svc, VIGIL_EV_CHANNEL);
    }
    return id;
}

static void summary(struct hv *hv, struct vm *vm, enum sel_type type, const char *source,
                    uint64_t n)
{
    const struct ratelimit_cfg *c = &hv->cfg.sel_rate;
    hv_event(hv, SEL_WARNING, type, vm,
             "%llu entries from %s suppressed (rate limit: %u at once, then one per %llu s)",
             (unsigned long long)n, source, c->burst,
             (unsigned long long)(c->period_ns / 1000000000ull));
}

uint64_t hv_event_limited(struct hv *hv, struct vm *vm, const char *source, enum sel_severity sev,
                          enum sel_type type, const char *fmt, ...)
{
    char msg[SEL_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&limits_lock);
    struct ratelimit *r = ratelimit_find(&vm->sel_limits, source);
    bool pass = ratelimit_take(r, &hv->cfg.sel_rate, now_ns());
    uint64_t left_out = pass ? ratelimit_suppressed(r) : 0;
    bool announce = !pass && ratelimit_announce(r);
    pthread_mutex_unlock(&limits_lock);
    if (announce) /* once per run of refusals: the log shows a flood started */
        hv_event(hv, SEL_WARNING, type, vm,
                 "rate limit reached: further entries from %s are counted, not logged", source);
    if (!pass) {
        log_debug("%s: not logged (rate limit): %s", vm->name, msg);
        return 0;
    }
    if (left_out)
        summary(hv, vm, type, source, left_out);
    return hv_event(hv, sev, type, vm, "%s", msg);
}

void hv_event_flush_suppressed(struct hv *hv, struct vm *vm)
{
    uint64_t now = now_ns();
    for (uint32_t i = 0; i < RATELIMIT_SOURCES; i++) {
        pthread_mutex_lock(&limits_lock);
        uint64_t n = 0;
        char source[RATELIMIT_SOURCE_MAX] = "";
        if (i < vm->sel_limits.n) {
            struct ratelimit *r = &vm->sel_limits.slot[i].r;
            if (r->suppressed && ratelimit_ready(r, &hv->cfg.sel_rate, now)) {
                ratelimit_take(r, &hv->cfg.sel_rate, now); /* the summary costs a token */
                n = ratelimit_suppressed(r);
                snprintf(source, sizeof source, "%s", vm->sel_limits.slot[i].source);
            }
        }
        pthread_mutex_unlock(&limits_lock);
        if (n) /* the limited sources so far are devices */
            summary(hv, vm, SEL_T_DEVICE, source, n);
    }
}

void events_device_error(struct vm *vm, const char *device, const char *reason)
{
    hv_event_limited(vm->hv, vm, device, SEL_WARNING, SEL_T_DEVICE,
                     "%s (the device waits for the driver to reset it)", reason);
}

void hv_sensor_alarm_event(void *hv, const struct sensor *s, enum sensor_health old_h,
                           enum sensor_health new_h)
{
    static const enum sel_type types[] = {
        [SENSOR_CEL] = SEL_T_SENSOR_TEMP,
        [SENSOR_VOLTS] = SEL_T_SENSOR_VOLTAGE,
        [SENSOR_RPM] = SEL_T_SENSOR_FAN,
        [SENSOR_PERCENT] = SEL_T_SENSOR_OTHER,
    };
    char msg[SEL_MSG_MAX];
    sensor_alarm_message(s, old_h, new_h, msg, sizeof msg);
    enum sel_type type = (unsigned)s->unit <= SENSOR_PERCENT ? types[s->unit] : SEL_T_SENSOR_OTHER;
    hv_event(hv, (enum sel_severity)new_h, type, NULL, "%s", msg);
}
