/* evhv.c: hv's events (`events` op, polled) mapped to the Vigil registry's EventRecords; a
 * crash's record waits for its core so that it can carry AdditionalDataURI. */
#include "evhv.h"
#include "events.h"
#include "hvlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYSTEMS "/redfish/v1/Systems/"
#define DUMPS   "/redfish/v1/Managers/hv/LogServices/Dump/Entries/"
#define SELS    "/redfish/v1/Managers/hv/LogServices/SEL/Entries/"
#define SENSORS "/redfish/v1/Chassis/vigil/Sensors/"
#define HOLD_MS 60000 /* a core not written by then: the crash goes out without one */
#define MAX_VMS 16
#define HELD    4

static uint64_t after;    /* hv's last seq seen */
static int64_t next_poll; /* monotonic ms */
static struct vm_slot {   /* per VM: a crash waiting for the core hv writes of it */
    char name[64];
    int freeze_expected; /* its last action was "freeze": a snapshot follows */
    int nheld;
    json_t *held[HELD];
    int64_t deadline;
} vms[MAX_VMS];

static struct vm_slot *slot(const char *vm)
{
    if (!vm[0])
        return NULL;
    for (int i = 0; i < MAX_VMS; i++)
        if (!strcmp(vms[i].name, vm))
            return &vms[i];
    for (int i = 0; i < MAX_VMS; i++)
        if (!vms[i].name[0]) {
            snprintf(vms[i].name, sizeof vms[i].name, "%s", vm);
            return &vms[i];
        }
    return NULL; /* more VMs than hv has: their crashes simply go out at once */
}

/* Lets a VM's held crash records go, with the core's link when there is one. */
static void release(struct vm_slot *s, const char *snapshot_id)
{
    for (int i = 0; i < s->nheld; i++) {
        if (snapshot_id) {
            char uri[200];
            snprintf(uri, sizeof uri, DUMPS "%s/attachment", snapshot_id);
            json_object_set_new(s->held[i], "AdditionalDataURI", json_string(uri));
            json_object_set_new(json_object_get(json_object_get(s->held[i], "Oem"), "Vigil"),
                                "SnapshotId", json_string(snapshot_id));
        }
        events_emit(s->held[i]);
    }
    s->nheld = 0;
    s->freeze_expected = 0;
}

static int starts(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static json_t *link(const char *prefix, const char *id)
{
    char uri[200];
    snprintf(uri, sizeof uri, "%s%s", prefix, id);
    return json_pack("{s:s}", "@odata.id", uri);
}

/* The sensor whose label begins hv's message ("CPU Temp 97 Cel crossed ..."): its URI id. */
static void sensor_of(const char *msg, char *id, size_t n)
{
    json_t *rep = hv_simple(json_pack("{s:s}", "op", "sensors")), *s;
    size_t i, best = 0;
    json_array_foreach(json_object_get(rep, "sensors"), i, s)
    {
        const char *label = json_string_value(json_object_get(s, "Name"));
        const char *sid = json_string_value(json_object_get(s, "Id"));
        size_t l = label ? strlen(label) : 0;
        if (sid && l > best && !strncmp(msg, label, l) && msg[l] == ' ') {
            best = l;
            snprintf(id, n, "%s", sid);
        }
    }
    json_decref(rep);
}

/* "snapshot <id> written ..." or "snapshot <id> of <vm>: sha256 ...": the id, and which. */
static int snapshot_id(const char *msg, char *id, size_t n, int *written)
{
    if (!starts(msg, "snapshot "))
        return 0;
    const char *p = msg + 9, *sp = strchr(p, ' ');
    size_t len = sp ? (size_t)(sp - p) : 0;
    if (!len || len >= n || strspn(p, "0123456789-_.abcdefghijklmnopqrstuvwxyz") != len)
        return 0;
    *written = starts(sp, " written");
    if (!*written && !(starts(sp, " of ") && strstr(sp, ": sha256 ")))
        return 0;
    memcpy(id, p, len);
    id[len] = 0;
    return 1;
}

/* The registry's entry for one hv event: MessageId (without prefix), EventType, origin. */
static json_t *map(json_t *ev, const char *vm, const char *type, const char *msg, struct vm_slot *s,
                   int *hold)
{
    const char *mid = "LogEntryAdded", *etype = "Other";
    json_t *origin = NULL, *data = NULL;
    char snap[80] = "", sensor[80] = "";
    int written = 0;
    json_int_t sel_id = json_integer_value(json_object_get(ev, "sel_id"));
    char sel[24];
    snprintf(sel, sizeof sel, "%lld", (long long)sel_id);
    if (!strcmp(type, "vm_switch")) {
        mid = "ForegroundSwitched", etype = "StatusChange";
    } else if (!strcmp(type, "vm_boot") || !strcmp(type, "vm_reset") || !strcmp(type, "vm_halt") ||
               !strcmp(type, "vm_pause") || !strcmp(type, "vm_resume")) {
        mid = "SystemStateChanged", etype = "StatusChange";
    } else if (!strcmp(type, "watchdog")) {
        mid = "WatchdogFired", etype = "Alert";
    } else if (!strcmp(type, "vm_crash") || (!strcmp(type, "trap") && !starts(msg, "trap "))) {
        mid = !strcmp(type, "vm_crash") ? "GuestCrashed" : "GuestFrozen", etype = "Alert";
        *hold = s && s->freeze_expected;
    } else if (!strcmp(type, "trap")) {
        mid = "TrapRaised", etype = "Alert";
    } else if (!strcmp(type, "action") && starts(msg, "action freeze for ")) {
        if (s)
            s->freeze_expected = 1; /* trap.c: the core of this VM is written next */
    } else if (!strcmp(type, "snapshot") && snapshot_id(msg, snap, sizeof snap, &written)) {
        mid = written ? "SnapshotWritten" : "SnapshotHashed";
        etype = written ? "ResourceAdded" : "ResourceUpdated";
        origin = link(DUMPS, snap);
        char uri[200];
        snprintf(uri, sizeof uri, DUMPS "%s/attachment", snap);
        data = json_string(uri);
    } else if (!strcmp(type, "snapshot") &&
               (starts(msg, "snapshot failed") || starts(msg, "no snapshot"))) {
        mid = "SnapshotFailed", etype = "Alert";
    } else if (starts(type, "sensor_")) {
        int crossed = strstr(msg, " crossed ") != NULL;
        mid = crossed ? "SensorThresholdCrossed" : "SensorRecovered";
        etype = crossed ? "Alert" : "StatusChange";
        sensor_of(msg, sensor, sizeof sensor);
        if (sensor[0])
            origin = link(SENSORS, sensor);
    }
    if (!origin && vm[0] && strcmp(mid, "LogEntryAdded"))
        origin = link(SYSTEMS, vm);
    if (!origin && sel_id > 0)
        origin = link(SELS, sel);
    char full[96];
    snprintf(full, sizeof full, VIGIL_REG "%s", mid);
    json_t *oem =
        json_pack("{s:O, s:O, s:s, s:s, s:I}", "HvSeq", json_object_get(ev, "seq"), "Kind",
                  json_object_get(ev, "kind"), "Type", type, "VM", vm, "SelId", sel_id);
    if (snap[0])
        json_object_set_new(oem, "SnapshotId", json_string(snap));
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:O, s:O, s:O, s:[s, s], s:{s:o}}", "EventType", etype,
                  "MessageId", full, "Message", msg, "Severity", json_object_get(ev, "severity"),
                  "MessageSeverity", json_object_get(ev, "severity"), "EventTimestamp",
                  json_object_get(ev, "time"), "MessageArgs", vm, msg, "Oem", "Vigil", oem);
    if (!rec) {
        json_decref(origin);
        json_decref(data);
        return NULL;
    }
    if (origin)
        json_object_set_new(rec, "OriginOfCondition", origin);
    if (data)
        json_object_set_new(rec, "AdditionalDataURI", data);
    if (sel_id > 0)
        json_object_set_new(rec, "LogEntry", link(SELS, sel));
    return rec;
}

static void take(json_t *ev, int64_t now)
{
    const char *vm = json_string_value(json_object_get(ev, "vm"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *msg = json_string_value(json_object_get(ev, "message"));
    if (!vm || !type || !msg)
        return; /* not hv's shape: nothing to say about it */
    struct vm_slot *s = slot(vm);
    int hold = 0;
    json_t *rec = map(ev, vm, type, msg, s, &hold);
    if (!rec)
        return;
    if (hold && s->nheld < HELD) {
        if (!s->nheld)
            s->deadline = now + HOLD_MS;
        s->held[s->nheld++] = rec;
        return;
    }
    const char *mid = json_string_value(json_object_get(rec, "MessageId"));
    int written = !strcmp(mid, VIGIL_REG "SnapshotWritten");
    if (s && s->nheld && (written || !strcmp(mid, VIGIL_REG "SnapshotFailed"))) {
        /* The crash held above goes out first, with its core's link when it was written. */
        json_t *sid =
            json_object_get(json_object_get(json_object_get(rec, "Oem"), "Vigil"), "SnapshotId");
        release(s, written ? json_string_value(sid) : NULL);
    }
    events_emit(rec);
}

static void lost_notice(uint64_t from)
{
    char msg[160];
    snprintf(msg, sizeof msg,
             "hv's event stream dropped events after %llu before the agent read them; the SEL "
             "keeps them",
             (unsigned long long)from);
    events_emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s]}", "EventType", "Alert", "MessageId",
                          VIGIL_REG "HvEventsLost", "Message", msg, "Severity", "Warning",
                          "MessageSeverity", "Warning", "MessageArgs", msg));
}

static void poll_hv(int64_t now)
{
    for (int round = 0; round < 8; round++) { /* a burst: read on while hv has more */
        json_t *rep = hv_simple(
            json_pack("{s:s, s:I, s:i}", "op", "events", "after", (json_int_t)after, "max", 256));
        if (!hv_ok(rep)) {
            json_decref(rep);
            return; /* hv unreachable or too old: the next tick tries again */
        }
        json_t *list = json_object_get(rep, "events");
        uint64_t last_seq = (uint64_t)json_integer_value(json_object_get(rep, "last_seq"));
        if (last_seq < after) { /* hv restarted: its sequence began again */
            after = 0;
            json_decref(rep);
            continue;
        }
        if (json_is_true(json_object_get(rep, "lost")) && after)
            lost_notice(after);
        size_t i, n = json_array_size(list);
        json_t *ev;
        json_array_foreach(list, i, ev)
        {
            uint64_t seq = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
            if (seq <= after)
                continue;
            after = seq;
            take(ev, now);
        }
        json_decref(rep);
        if (n < 256 || after >= last_seq)
            return;
    }
}

int64_t evhv_tick(int64_t now_ms)
{
    for (int i = 0; i < MAX_VMS; i++)
        if (vms[i].nheld && now_ms >= vms[i].deadline)
            release(&vms[i], NULL); /* no core came: the crash is news without one */
    if (now_ms < next_poll)
        return next_poll - now_ms;
    poll_hv(now_ms);
    next_poll = now_ms + EVHV_POLL_MS;
    return EVHV_POLL_MS;
}
