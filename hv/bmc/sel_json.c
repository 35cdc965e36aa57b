/* SEL names and rendering: severity/type strings, Redfish SensorType mapping, LogEntry JSON. */
#include "bmc/sel.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const sev_names[] = {"OK", "Warning", "Critical"};

static const struct {
    const char *name;
    const char *redfish; /* LogEntry.SensorType (IPMI sensor types) */
} types[SEL_T_COUNT] = {
    [SEL_T_OTHER] = {"other", "System Event"},
    [SEL_T_HV_START] = {"hv_start", "Management Subsystem Health"},
    [SEL_T_HV_STOP] = {"hv_stop", "Management Subsystem Health"},
    [SEL_T_VM_BOOT] = {"vm_boot", "SystemBoot/Restart"},
    [SEL_T_VM_RESET] = {"vm_reset", "SystemBoot/Restart"},
    [SEL_T_VM_HALT] = {"vm_halt", "OS Stop/Shutdown"},
    [SEL_T_VM_CRASH] = {"vm_crash", "OS Stop/Shutdown"},
    [SEL_T_VM_PAUSE] = {"vm_pause", "System Event"},
    [SEL_T_VM_RESUME] = {"vm_resume", "System Event"},
    [SEL_T_VM_SWITCH] = {"vm_switch", "System Event"},
    [SEL_T_TRAP] = {"trap", "Critical Interrupt"},
    [SEL_T_ACTION] = {"action", "System Event"},
    [SEL_T_SNAPSHOT] = {"snapshot", "System Event"},
    [SEL_T_POLICY_CHANGE] = {"policy_change", "System Event"},
    [SEL_T_WATCHDOG] = {"watchdog", "Watchdog"},
    [SEL_T_OPERATOR] = {"operator", "Session Audit"},
    [SEL_T_SENSOR_TEMP] = {"sensor_temperature", "Temperature"},
    [SEL_T_SENSOR_VOLTAGE] = {"sensor_voltage", "Voltage"},
    [SEL_T_SENSOR_FAN] = {"sensor_fan", "Fan"},
    [SEL_T_SENSOR_OTHER] = {"sensor_other", "Other Units-based Sensor"},
    [SEL_T_LOG_CLEARED] = {"log_cleared", "Event Logging Disabled"},
    [SEL_T_DEVICE] = {"device", "Add-in Card"},
};

const char *sel_severity_name(enum sel_severity sev)
{
    return (unsigned)sev <= SEL_CRITICAL ? sev_names[sev] : "Critical";
}

const char *sel_type_name(enum sel_type type)
{
    /* A type written by a newer hv than this one still renders. */
    return (unsigned)type < SEL_T_COUNT ? types[type].name : "unknown";
}

const char *sel_type_redfish(enum sel_type type)
{
    return (unsigned)type < SEL_T_COUNT ? types[type].redfish : "OEM";
}

int sel_severity_parse(const char *name)
{
    for (int i = 0; i <= SEL_CRITICAL; i++)
        if (!strcasecmp(name, sev_names[i]))
            return i;
    return -1;
}

int sel_type_parse(const char *name)
{
    for (int i = 0; i < SEL_T_COUNT; i++)
        if (!strcmp(name, types[i].name))
            return i;
    return -1;
}

void sel_format_time(int64_t time_ns, char *buf, size_t len)
{
    struct tm tm;
    time_t secs = (time_t)(time_ns / 1000000000);
    int ms = (int)(time_ns % 1000000000 / 1000000);

    if (ms < 0) /* before 1970: floor, not truncate */
        secs--, ms += 1000;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static bool is_sensor(enum sel_type t)
{
    return t >= SEL_T_SENSOR_TEMP && t <= SEL_T_SENSOR_OTHER;
}

json_t *sel_entry_json(const struct sel_entry *e)
{
    char id[24], name[40], created[40];

    snprintf(id, sizeof(id), "%llu", (unsigned long long)e->id);
    snprintf(name, sizeof(name), "SEL Entry %llu", (unsigned long long)e->id);
    sel_format_time(e->time_ns, created, sizeof(created));
    /* Redfish schemas reject unknown top-level properties: ours go under Oem.Vigil. */
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:{s:s, s:s, s:I}}}", "Id", id,
                          "Name", name, "EntryType", "SEL", "Created", created, "Severity",
                          sel_severity_name(e->severity), "SensorType", sel_type_redfish(e->type),
                          "Message", e->message, "Oem", "Vigil", "EventType",
                          sel_type_name(e->type), "VM", e->vm, "Time_ns", (json_int_t)e->time_ns);
    if (j && is_sensor(e->type))
        json_object_set_new(j, "EntryCode",
                            json_string(e->severity == SEL_OK ? "Deassert" : "Assert"));
    if (j && e->type >= SEL_T_COUNT)
        json_object_set_new(j, "OemSensorType", json_string(sel_type_name(e->type)));
    return j;
}
