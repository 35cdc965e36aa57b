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
