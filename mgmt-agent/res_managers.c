/* res_managers.c: Managers (hv and the service VM) and their LogServices (SEL, Dump). */
#include "hvlink.h"
#include "resources.h"

#include <stdio.h>
#include <string.h>

#define MANAGERS "/redfish/v1/Managers"
#define LOGS     MANAGERS "/hv/LogServices"

static int manager_ok(struct req *q, struct resp *r)
{
    if (!strcmp(ARG(q, 1), "hv") || !strcmp(ARG(q, 1), "service"))
        return 1;
    resp_error(r, 404, "ResourceNotFound", "no manager %s (hv, service)", ARG(q, 1));
    return 0;
}

void h_managers(struct req *q, struct resp *r)
{
    (void)q;
    json_t *m = json_pack("[o, o]", odata_link(MANAGERS "/hv"), odata_link(MANAGERS "/service"));
    resp_json(
        r, 200,
        collection(MANAGERS, "#ManagerCollection.ManagerCollection", "Manager Collection", m));
}

void h_manager(struct req *q, struct resp *r)
{
    if (!manager_ok(q, r))
        return;
    int hv = !strcmp(ARG(q, 1), "hv");
    char path[96], logs[128];
    snprintf(path, sizeof path, MANAGERS "/%s", ARG(q, 1));
    snprintf(logs, sizeof logs, "%s/LogServices", path);
    json_t *hello = hv ? hv_simple(json_pack("{s:s}", "op", "hello")) : NULL;
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:{s:[o]}}", "@odata.id",
                          path, "@odata.type", "#Manager.v1_17_0.Manager", "Id", ARG(q, 1), "Name",
                          hv ? "Vigil hypervisor" : "Vigil service VM", "ManagerType",
                          hv ? "BMC" : "Service", "Status", "State", "Enabled", "Health", "OK",
                          "LogServices", odata_link(logs), "Links", "ManagerForServers",
                          odata_link("/redfish/v1/Systems/guest"));
    if (hv) /* the trap policy (res_policy.c) */
        json_object_set_new(
            m, "Oem",
            json_pack("{s:{s:o}}", "Vigil", "Policy", odata_link(MANAGERS "/hv/Oem/Vigil/Policy")));
    if (hello && json_is_string(json_object_get(hello, "hv")))
        json_object_set(m, "FirmwareVersion", json_object_get(hello, "hv"));
    json_decref(hello);
    resp_json(r, 200, m);
}

void h_log_services(struct req *q, struct resp *r)
{
    if (!manager_ok(q, r))
        return;
    char path[128];
    snprintf(path, sizeof path, MANAGERS "/%s/LogServices", ARG(q, 1));
    json_t *m = json_array();
    if (!strcmp(ARG(q, 1), "hv")) { /* hv keeps the logs; the service VM has none of its own */
        json_array_append_new(m, odata_link(LOGS "/SEL"));
        json_array_append_new(m, odata_link(LOGS "/Dump"));
    }
    resp_json(r, 200,
              collection(path, "#LogServiceCollection.LogServiceCollection",
                         "Log Service Collection", m));
}

void h_log_service(struct req *q, struct resp *r)
{
    int sel = !strcmp(ARG(q, 3), "SEL");
    if (strcmp(ARG(q, 1), "hv") || (!sel && strcmp(ARG(q, 3), "Dump")))
        return resp_error(r, 404, "ResourceNotFound", "no log service %s", q->url);
    json_t *ls = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:{s:s, s:s}}", "@odata.id",
                           sel ? LOGS "/SEL" : LOGS "/Dump", "@odata.type",
                           "#LogService.v1_4_0.LogService", "Id", sel ? "SEL" : "Dump", "Name",
                           sel ? "System Event Log" : "Crash snapshots (ELF cores)", "LogEntryType",
                           sel ? "SEL" : "Multiple", "OverWritePolicy",
                           sel ? "WrapsWhenFull" : "WrapsWhenFull", "ServiceEnabled", 1, "Entries",
                           odata_link(sel ? LOGS "/SEL/Entries" : LOGS "/Dump/Entries"), "Status",
                           "State", "Enabled", "Health", "OK");
    if (sel) {
        json_t *rep = hv_simple(json_pack("{s:s, s:i}", "op", "sel", "max", 1));
        if (json_is_integer(json_object_get(rep, "capacity")))
            json_object_set(ls, "MaxNumberOfRecords", json_object_get(rep, "capacity"));
        json_decref(rep);
        json_object_set_new(ls, "Actions",
                            json_pack("{s:{s:s}}", "#LogService.ClearLog", "target",
                                      LOGS "/SEL/Actions/LogService.ClearLog"));
    } else { /* a core of any VM, through a task (res_tasks.c) */
        json_object_set_new(ls, "Actions",
                            json_pack("{s:{s:s, s:[s]}}", "#LogService.CollectDiagnosticData",
                                      "target",
                                      LOGS "/Dump/Actions/LogService.CollectDiagnosticData",
                                      "DiagnosticDataType@Redfish.AllowableValues", "OEM"));
    }
    resp_json(r, 200, ls);
}
