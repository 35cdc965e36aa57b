/* events.c: the system event log is the record of what hv did; the diagnostic log mirrors it. */
#include "supervisor/events.h"

#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>

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
    return id;
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
