/* System event log (SEL): append-only, persistent, bounded ring that wraps when full. */
#ifndef VIGIL_SEL_H
#define VIGIL_SEL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds include the terminating NUL; longer strings are truncated, never rejected. */
#define SEL_VM_MAX      64
#define SEL_MSG_MAX     256
#define SEL_DEFAULT_CAP 4096u
#define SEL_MAX_CAP     65536u

enum sel_severity {
    SEL_OK = 0,
    SEL_WARNING = 1,
    SEL_CRITICAL = 2,
};

/*
 * The numeric values are stored on disk: append new types at the end, never renumber.
 * Each maps to a Redfish LogEntry SensorType (see sel_type_redfish()).
 */
enum sel_type {
    SEL_T_OTHER = 0,
    SEL_T_HV_START = 1,
    SEL_T_HV_STOP = 2,
    SEL_T_VM_BOOT = 3,
    SEL_T_VM_RESET = 4,
    SEL_T_VM_HALT = 5,
    SEL_T_VM_CRASH = 6,
    SEL_T_VM_PAUSE = 7,
    SEL_T_VM_RESUME = 8,
    SEL_T_VM_SWITCH = 9,
    SEL_T_TRAP = 10,
    SEL_T_ACTION = 11,
    SEL_T_SNAPSHOT = 12,
    SEL_T_POLICY_CHANGE = 13,
    SEL_T_WATCHDOG = 14,
    SEL_T_OPERATOR = 15,
    SEL_T_SENSOR_TEMP = 16,
    SEL_T_SENSOR_VOLTAGE = 17,
    SEL_T_SENSOR_FAN = 18,
    SEL_T_SENSOR_OTHER = 19,
    SEL_T_LOG_CLEARED = 20,
    SEL_T_DEVICE = 21, /* a device refused what a guest did to it (a malformed virtqueue) */
    SEL_T_COUNT
};

struct sel_entry {
    uint64_t id;     /* 1, 2, 3, ... never reused, not even across clear or restart */
    int64_t time_ns; /* CLOCK_REALTIME */
    enum sel_severity severity;
    enum sel_type type;
    char vm[SEL_VM_MAX];       /* "" when the event concerns no VM */
    char message[SEL_MSG_MAX]; /* valid UTF-8, no control characters */
};

struct sel_info {
    uint32_t capacity;
    uint32_t count;     /* entries currently held (<= capacity) */
    uint64_t first_id;  /* oldest held entry, 0 when empty */
    uint64_t last_id;   /* newest visible entry, 0 when empty */
    bool durable;       /* every append fdatasync'ed before it is visible */
    uint64_t io_errors; /* failed writes/syncs since open (entries stay in memory) */
    uint32_t discarded; /* torn or corrupt records dropped when the file was opened */
};

struct sel;

/*
 * Open (or create) the SEL file at path.  capacity 0 keeps the file's capacity (or
 * SEL_DEFAULT_CAP for a new file); a different capacity rewrites the file keeping the
 * newest entries.  Returns 0, or -errno with a message in err.  A file with a damaged
 * header is renamed aside (path.corrupt-<secs>) and a fresh log is started.
 */
int sel_open(struct sel **out, const char *path, uint32_t capacity, char *err, size_t errlen);
/* Flushes (when not durable) and frees; no other call may be running or waiting. */
void sel_close(struct sel *s);

/*
 * Default true: each append is on disk before it returns (concurrent appends share one
 * fdatasync).  false: appends reach the page cache only, flushed by sel_sync/sel_close;
 * a kill -9 loses nothing, a power loss loses the unsynced tail.
 */
void sel_set_durable(struct sel *s, bool durable);
int sel_sync(struct sel *s);

/* Returns the new entry's id (never 0).  vm may be NULL.  Thread-safe. */
uint64_t sel_append(struct sel *s, enum sel_severity sev, enum sel_type type, const char *vm,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
uint64_t sel_vappend(struct sel *s, enum sel_severity sev, enum sel_type type, const char *vm,
                     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Copies up to max entries with id > after_id, oldest first; returns how many. */
size_t sel_read(struct sel *s, uint64_t after_id, struct sel_entry *out, size_t max);
uint64_t sel_last_id(struct sel *s);
void sel_get_info(struct sel *s, struct sel_info *info);

/*
 * Redfish LogService.ClearLog: drops every entry and logs a "log cleared" entry (whose id
 * continues the sequence).  who (may be NULL) names the operator.  Returns that entry's id,
 * or 0 when the new file could not be written (the old log is then kept intact).
 */
uint64_t sel_clear(struct sel *s, const char *who);

/*
 * Blocks until an entry with id > after_id is visible or timeout_ms passes (< 0: forever).
 * Returns sel_last_id().  For `hvctl sel --follow` threads.
 */
uint64_t sel_wait(struct sel *s, uint64_t after_id, int timeout_ms);
/*
 * A non-blocking eventfd that becomes readable when entries are appended; for one poll loop
 * (it is read to reset it, so two consumers would steal each other's wakeups).
 */
int sel_event_fd(struct sel *s);

/* "OK", "Warning", "Critical"; and the lower-case type names ("vm_switch", ...). */
const char *sel_severity_name(enum sel_severity sev);
const char *sel_type_name(enum sel_type type);
/* Inverse of the above; return -1 for an unknown name. */
int sel_severity_parse(const char *name);
int sel_type_parse(const char *name);
/* The Redfish LogEntry SensorType value that best fits the type. */
const char *sel_type_redfish(enum sel_type type);

/*
 * A Redfish LogEntry-shaped object: Id, Name, EntryType "SEL", Created (ISO 8601 UTC),
 * Severity, SensorType, Message, EntryCode for sensor events, and Oem.Vigil {EventType, VM,
 * Time_ns}.  The caller adds @odata.id / @odata.type.  New reference; NULL on ENOMEM.
 */
json_t *sel_entry_json(const struct sel_entry *e);
/* Formats time_ns as "2024-05-01T12:34:56.789Z" into buf (>= 32 bytes). */
void sel_format_time(int64_t time_ns, char *buf, size_t len);

#endif
