/* ctl_ops_metrics.c: the metrics operation: hv's one Prometheus text exposition (sensors under
 * node_exporter's hwmon names, then hv's own counters), which hvctl and the agent pass on. */
#include "control/ctl_ops.h"

#include "base/log.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* VM names are hv's own (--name), but escape them as label values anyway. */
static void put_vm(FILE *f, const char *name)
{
    fputs("vm=\"", f);
    for (const char *p = name; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* Runs on the control thread, which is the one that changes hv->vms (as op_status). */
static void write_vigil(struct hv *hv, FILE *f)
{
    family(f, "vigil_switches_total", "counter", "Switches that made this VM the foreground VM");
    for (uint32_t i = 0; i < hv->nvms; i++) {
        fputs("vigil_switches_total{", f);
        put_vm(f, hv->vms[i]->name);
        fprintf(f, "} %llu\n", (unsigned long long)atomic_load(&hv->vms[i]->switches_in));
    }
    family(f, "vigil_vm_state", "gauge",
           "1 for the state each VM is in, 0 for the others (created, running, paused, frozen, "
           "halted, crashed)");
    for (uint32_t i = 0; i < hv->nvms; i++) {
        enum vm_state st = vm_get_state(hv->vms[i]);
        for (int s = VM_CREATED; s <= VM_CRASHED; s++) {
            fputs("vigil_vm_state{", f);
            put_vm(f, hv->vms[i]->name);
            fprintf(f, ",state=\"%s\"} %d\n", vm_state_name((enum vm_state)s), s == (int)st);
        }
    }
    struct vm *fg = atomic_load(&hv->foreground);
    family(f, "vigil_vm_foreground", "gauge", "1 for the VM in the foreground");
    for (uint32_t i = 0; i < hv->nvms; i++) {
        fputs("vigil_vm_foreground{", f);
        put_vm(f, hv->vms[i]->name);
        fprintf(f, "} %d\n", hv->vms[i] == fg);
    }
    family(f, "vigil_traps_total", "counter", "Trap events raised, by policy event");
    for (int e = 0; e < POLICY_EV_COUNT; e++)
        fprintf(f, "vigil_traps_total{event=\"%s\"} %llu\n",
                policy_event_name((enum policy_event)e),
                (unsigned long long)atomic_load(&hv->traps_raised[e]));
    family(f, "vigil_watchdog_firings_total", "counter", "Alarms the guest watchdog raised");
    fprintf(f, "vigil_watchdog_firings_total %llu\n",
            (unsigned long long)atomic_load(&hv->watchdog_firings));
    family(f, "vigil_snapshots_total", "counter", "Crash snapshots (ELF cores) written");
    fprintf(f, "vigil_snapshots_total %llu\n",
            (unsigned long long)atomic_load(&hv->snapshots_written));
    family(f, "vigil_service_restarts_total", "counter",
           "Service VM crashes contained by a restart");
    fprintf(f, "vigil_service_restarts_total %llu\n",
            (unsigned long long)atomic_load(&hv->service_restarts));
    if (hv->sel) {
        struct sel_info info;
        sel_get_info(hv->sel, &info);
        /* Entry ids are sequential and survive ClearLog and restarts: the newest id counts
         * every entry the log has recorded. */
        family(f, "vigil_sel_entries_total", "counter", "System event log entries recorded");
        fprintf(f, "vigil_sel_entries_total %llu\n", (unsigned long long)info.last_id);
        family(f, "vigil_sel_entries", "gauge", "System event log entries held now");
        fprintf(f, "vigil_sel_entries %u\n", info.count);
    }
    family(f, "vigil_uptime_seconds", "gauge", "Seconds since hv started");
    fprintf(f, "vigil_uptime_seconds %.3f\n", (double)(now_ns() - hv->start_ns) / 1e9);
}

json_t *op_metrics(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)req;
    char *sensors = hv->sensors ? sensors_prometheus(hv->sensors) : NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        free(sensors);
        return ctl_error("ENOMEM", "out of memory");
    }
    if (sensors)
        fputs(sensors, f);
    free(sensors);
    write_vigil(hv, f);
    if (fclose(f) || !buf) {
        free(buf);
        return ctl_error("ENOMEM", "out of memory");
    }
    out->data = (uint8_t *)buf;
    out->data_len = (uint32_t)len;
    return json_pack("{s:b, s:s}", "ok", 1, "content_type", "text/plain; version=0.0.4");
}
