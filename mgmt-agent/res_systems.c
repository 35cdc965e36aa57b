/* res_systems.c: Systems: one ComputerSystem per VM, Reset, and the Switch/Snapshot OEM actions. */
#include "hvlink.h"
#include "resources.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define SYSTEMS "/redfish/v1/Systems"

/* ResetType -> hv op (docs/control-protocol.md).  On depends on the state (h_system_reset). */
static const char *const guest_resets[][2] = {
    {"On", NULL},   {"ForceOff", "vm.poweroff"}, {"ForceRestart", "vm.reset"},
    {"Nmi", "nmi"}, {"Pause", "pause"},          {"Resume", "resume"},
};
/* The service VM's own System: only a restart, by hv's own restart path, so that nobody locks
 * themselves out. */
static const char *const service_resets[][2] = {{"ForceRestart", "vm.reset"}};

/* A restart of the VM this agent may be running in is asked of hv only once the 204 has had
 * time to reach the client: hv stops the service VM as soon as it is asked. */
#define SELF_RESTART_DELAY_MS 300
static char deferred_vm[64];
static long long deferred_due_ms;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int systems_deferred_poll(void)
{
    if (!deferred_vm[0])
        return -1;
    long long left = deferred_due_ms - mono_ms();
    if (left > 0)
        return (int)left;
    json_decref(hv_simple(json_pack("{s:s, s:s}", "op", "vm.reset", "vm", deferred_vm)));
    deferred_vm[0] = 0;
    return -1;
}

static json_t *find_vm(json_t *status, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(status, "vms"), i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "name")), name))
            return v;
    }
    return NULL;
}

static int is_service(json_t *vm)
{
    return !strcmp(json_string_value(json_object_get(vm, "role")), "service");
}

static json_t *system_json(json_t *vm)
{
    const char *name = json_string_value(json_object_get(vm, "name"));
    const char *st = json_string_value(json_object_get(vm, "state"));
    char path[128], act[192], sw[192], snap[192];
    snprintf(path, sizeof path, SYSTEMS "/%s", name);
    snprintf(act, sizeof act, "%s/Actions/ComputerSystem.Reset", path);
    snprintf(sw, sizeof sw, "%s/Actions/Oem/Vigil.Switch", path);
    snprintf(snap, sizeof snap, "%s/Actions/Oem/Vigil.Snapshot", path);
    int running = !strcmp(st, "running"), stopped = !strcmp(st, "paused") || !strcmp(st, "frozen");
    int crashed = !strcmp(st, "crashed");
    const char *power = running ? "On" : stopped ? "Paused" : "Off";
    const char *state = running   ? "Enabled"
                        : stopped ? "Quiesced"
                        : crashed ? "UnavailableOffline"
                                  : "StandbyOffline";
    json_t *allow = json_array();
    int svc = is_service(vm);
    size_t n = svc ? 1 : sizeof guest_resets / sizeof guest_resets[0];
    for (size_t i = 0; i < n; i++)
        json_array_append_new(allow, json_string(svc ? service_resets[i][0] : guest_resets[i][0]));
    json_t *oem = json_pack(
        "{s:O, s:O, s:O, s:b, s:O, s:O, s:O, s:O, s:O}", "Role", json_object_get(vm, "role"),
        "State", json_object_get(vm, "state"), "Foreground", json_object_get(vm, "foreground"),
        "Frozen", !strcmp(st, "frozen"), "SwitchesIn", json_object_get(vm, "switches_in"),
        "SwitchesOut", json_object_get(vm, "switches_out"), "Heartbeats",
        json_object_get(vm, "heartbeats"), "Image", json_object_get(vm, "image"), "SnapshotWriting",
        json_object_get(vm, "snapshot_writing"));
    json_t *sys = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:f}, s:{s:O},"
        " s:{s:{s:s, s:o}, s:{s:{s:s}, s:{s:s}}}, s:{s:[o], s:[o]}, s:{s:o}}",
        "@odata.id", path, "@odata.type", "#ComputerSystem.v1_20_0.ComputerSystem", "Id", name,
        "Name", name, "SystemType", "Virtual", "PowerState", power, "Status", "State", state,
        "Health", crashed ? "Critical" : "OK", "MemorySummary", "TotalSystemMemoryGiB",
        (double)json_integer_value(json_object_get(vm, "memory_mib")) / 1024.0, "ProcessorSummary",
        "Count", json_object_get(vm, "vcpus"), "Actions", "#ComputerSystem.Reset", "target", act,
        "ResetType@Redfish.AllowableValues", allow, "Oem", "#Vigil.Switch", "target", sw,
        "#Vigil.Snapshot", "target", snap, "Links", "Chassis",
        odata_link("/redfish/v1/Chassis/vigil"), "ManagedBy", odata_link("/redfish/v1/Managers/hv"),
        "Oem", "Vigil", oem);
    json_object_set_new(sys, "SerialConsole", serial_console_json(name));
    if (json_object_get(vm, "uptime_seconds")) /* seconds since its last boot, while it is on */
        json_object_set(oem, "UptimeSeconds", json_object_get(vm, "uptime_seconds"));
    if (json_object_get(vm, "stop_reason"))
        json_object_set(oem, "StopReason", json_object_get(vm, "stop_reason"));
    /* A stopped VM's memory and registers (res_peek.c); a plain URI, not a link: it answers
     * 409 while the VM runs. */
    char peek[192];
    snprintf(peek, sizeof peek, "%s/Actions/Oem/Vigil.ReadMemory", path);
    json_object_set_new(json_object_get(json_object_get(sys, "Actions"), "Oem"),
                        "#Vigil.ReadMemory", json_pack("{s:s}", "target", peek));
    snprintf(peek, sizeof peek, "%s/Oem/Vigil/Registers", path);
    json_object_set_new(oem, "RegistersUri", json_string(peek));
    return sys;
}

void h_systems(struct req *q, struct resp *r)
{
    (void)q;
    json_t *st = hv_get(r, json_pack("{s:s}", "op", "status"));
    if (!st)
        return;
    json_t *m = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(st, "vms"), i, v)
    {
        char path[128];
        snprintf(path, sizeof path, SYSTEMS "/%s", json_string_value(json_object_get(v, "name")));
        json_array_append_new(m, odata_link(path));
    }
    json_decref(st);
    resp_json(r, 200,
              collection(SYSTEMS, "#ComputerSystemCollection.ComputerSystemCollection",
                         "Computer System Collection", m));
}

/* The VM named by the URI, with the status it came from (to decref), or NULL after a 404. */
static json_t *vm_of(struct req *q, struct resp *r, json_t **status)
{
    *status = hv_get(r, json_pack("{s:s}", "op", "status"));
    json_t *vm = *status ? find_vm(*status, ARG(q, 1)) : NULL;
    if (*status && !vm)
        resp_error(r, 404, "ResourceNotFound", "no system %s", ARG(q, 1));
    return vm;
}

void h_system(struct req *q, struct resp *r)
{
    json_t *st, *vm = vm_of(q, r, &st);
    if (vm)
        resp_json(r, 200, system_json(vm));
    json_decref(st);
}

static void run_op(struct resp *r, const char *op, const char *field, const char *vm)
{
    json_t *rep = hv_get(r, json_pack("{s:s, s:s}", "op", op, field, vm));
    if (rep)
        r->status = 204;
    json_decref(rep);
}

static void on(struct resp *r, json_t *vm)
{
    const char *st = json_string_value(json_object_get(vm, "state"));
    const char *name = json_string_value(json_object_get(vm, "name"));
    if (!strcmp(st, "running"))
        r->status = 204; /* already on */
    else if (!strcmp(st, "paused"))
        run_op(r, "resume", "vm", name);
    else if (!strcmp(st, "frozen")) /* a guest runs in the foreground: it resumes there */
        run_op(r, "switch", "target", name);
    else
        run_op(r, "vm.poweron", "vm", name);
}

void h_system_reset(struct req *q, struct resp *r)
{
    json_t *st, *vm = vm_of(q, r, &st);
    if (!vm)
        return json_decref(st);
    const char *type = json_string_value(json_object_get(q->json, "ResetType"));
    int svc = is_service(vm);
    const char *op = NULL;
    size_t n = svc ? 1 : sizeof guest_resets / sizeof guest_resets[0];
    for (size_t i = 0; type && i < n; i++)
        if (!strcmp(type, svc ? service_resets[i][0] : guest_resets[i][0]))
            op = svc ? service_resets[i][1] : guest_resets[i][1] ? guest_resets[i][1] : "";
    if (!type)
        resp_error(r, 400, "ActionParameterMissing", "ComputerSystem.Reset needs ResetType");
    else if (!op)
        resp_error(r, 400, "ActionParameterValueNotInList",
                   "ResetType %.40s is not allowed for %s (see ResetType@Redfish.AllowableValues)",
                   type, ARG(q, 1));
    else if (!*op) /* On: power on a VM that is off, resume a paused one, run a frozen one */
        on(r, vm);
    else if (svc) { /* checked and answered now, done once the answer is out */
        snprintf(deferred_vm, sizeof deferred_vm, "%s", ARG(q, 1));
        deferred_due_ms = mono_ms() + SELF_RESTART_DELAY_MS;
        r->status = 204;
    } else
        run_op(r, op, "vm", ARG(q, 1));
    json_decref(st);
}

void h_system_switch(struct req *q, struct resp *r)
{
    json_t *st, *vm = vm_of(q, r, &st);
    if (vm)
        run_op(r, "switch", "target", ARG(q, 1));
    json_decref(st);
}

void h_system_snapshot(struct req *q, struct resp *r)
{
    json_t *st, *vm = vm_of(q, r, &st);
    json_decref(st);
    if (!vm)
        return;
    json_t *rep = hv_get(r, json_pack("{s:s, s:s}", "op", "snapshot.take", "vm", ARG(q, 1)));
    if (!rep)
        return;
    /* The core is written by a job in hv; it appears in the Dump log service when done. */
    resp_header(r, "Location", "/redfish/v1/Managers/hv/LogServices/Dump/Entries");
    resp_json(r, 202,
              json_pack("{s:{s:{s:O, s:O}}}", "Oem", "Vigil", "Job",
                        json_object_get(json_object_get(rep, "job"), "id"), "FrozenUs",
                        json_object_get(rep, "frozen_us")));
    json_decref(rep);
}
