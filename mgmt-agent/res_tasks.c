/* res_tasks.c: TaskService, Tasks, task monitors, and the Dump service's CollectDiagnosticData
 * action that starts a task (hv's snapshot.take job). */
#include "events.h"
#include "hvlink.h"
#include "resources.h"
#include "routes.h"
#include "tasks.h"

#include <stdio.h>
#include <string.h>

#define TASKSVC  "/redfish/v1/TaskService"
#define MONITORS TASKSVC "/TaskMonitors/"
#define DUMPS    "/redfish/v1/Managers/hv/LogServices/Dump/Entries/"
#define OEM_TYPE "Vigil:" /* OEMDiagnosticDataType "Vigil:<vm>": a core of that VM */

static const char *const state_names[] = {"Running", "Completed", "Exception"};

static json_t *message(const char *id, const char *sev, const char *text, const char *arg)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "MessageId", id, "Message", text, "Severity",
                     sev, "MessageSeverity", sev, "MessageArgs", arg);
}

static json_t *task_json(const struct task *t)
{
    char path[120], monitor[120], name[120], text[400];
    snprintf(path, sizeof path, TASKSVC "/Tasks/%s", t->id);
    snprintf(monitor, sizeof monitor, MONITORS "%s", t->id);
    snprintf(name, sizeof name, "Collect diagnostic data of %s", t->vm);
    json_t *headers = json_array(), *msgs = json_array();
    if (t->state == TASK_COMPLETED) {
        char loc[200];
        snprintf(loc, sizeof loc, "Location: " DUMPS "%s", t->snapshot);
        json_array_append_new(headers, json_string(loc));
        snprintf(text, sizeof text, "The task with Id '%s' has completed.", t->id);
        json_array_append_new(msgs, message("TaskEvent.1.0.TaskCompletedOK", "OK", text, t->id));
    } else if (t->state == TASK_EXCEPTION) {
        snprintf(text, sizeof text, "The task with Id '%s' has completed with errors: %s", t->id,
                 t->error);
        json_array_append_new(msgs, message("TaskEvent.1.0.TaskAborted", "Critical", text, t->id));
    } else {
        snprintf(text, sizeof text, "The task with Id '%s' has started.", t->id);
        json_array_append_new(msgs, message("TaskEvent.1.0.TaskStarted", "OK", text, t->id));
    }
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b, s:{s:s, s:s, s:s, s:o}, s:o,"
        " s:{s:{s:s, s:I}}}",
        "@odata.id", path, "@odata.type", "#Task.v1_7_3.Task", "Id", t->id, "Name", name,
        "TaskState", state_names[t->state], "TaskStatus",
        t->state == TASK_EXCEPTION ? "Critical" : "OK", "StartTime", t->start, "PercentComplete",
        t->percent, "TaskMonitor", monitor, "HidePayload", 0, "Payload", "TargetUri", t->target,
        "HttpOperation", "POST", "JsonBody", t->body ? t->body : "", "HttpHeaders", headers,
        "Messages", msgs, "Oem", "Vigil", "VM", t->vm, "HvJob", (json_int_t)t->job);
    if (o && t->end[0])
        json_object_set_new(o, "EndTime", json_string(t->end));
    if (o && t->snapshot[0])
        json_object_set_new(json_object_get(json_object_get(o, "Oem"), "Vigil"), "SnapshotId",
                            json_string(t->snapshot));
    return o;
}

void h_task_service(struct req *q, struct resp *r)
{
    (void)q;
    char now[40];
    events_now(now, sizeof now);
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:b, s:{s:s, s:s}, s:o,"
                        " s:{s:{s:i, s:i}}}",
                        "@odata.id", TASKSVC, "@odata.type", "#TaskService.v1_2_1.TaskService",
                        "Id", "TaskService", "Name", "Task Service", "ServiceEnabled", 1,
                        "DateTime", now, "CompletedTaskOverWritePolicy", "Oldest",
                        "LifeCycleEventOnTaskStateChange", 1, "Status", "State", "Enabled",
                        "Health", "OK", "Tasks", odata_link(TASKSVC "/Tasks"), "Oem", "Vigil",
                        "MaxTasks", TASKS_MAX, "CompletedTaskLifetimeSeconds", TASK_KEEP_S));
}

void h_tasks(struct req *q, struct resp *r)
{
    (void)q;
    json_t *m = json_array();
    for (int i = 0; i < task_count(); i++) {
        char path[120];
        snprintf(path, sizeof path, TASKSVC "/Tasks/%s", task_at(i)->id);
        json_array_append_new(m, odata_link(path));
    }
    resp_json(r, 200,
              collection(TASKSVC "/Tasks", "#TaskCollection.TaskCollection", "Task Collection", m));
}

static struct task *find(struct req *q, struct resp *r)
{
    struct task *t = task_find(ARG(q, 2));
    if (!t)
        resp_error(r, 404, "ResourceNotFound", "no task %s (finished tasks are kept %d s)",
                   ARG(q, 2), TASK_KEEP_S);
    else
        task_refresh(t);
    return t;
}

void h_task(struct req *q, struct resp *r)
{
    struct task *t = find(q, r);
    if (t)
        resp_json(r, 200, task_json(t));
}

/* 202 and the Task while it runs; then the operation's result: 200 with the Task and the new
 * Dump entry in Location, or the error that ended it. */
void h_task_monitor(struct req *q, struct resp *r)
{
    struct task *t = find(q, r);
    if (!t)
        return;
    char loc[200];
    if (t->state == TASK_RUNNING) {
        snprintf(loc, sizeof loc, MONITORS "%s", t->id);
        resp_header(r, "Location", loc);
        resp_header(r, "Retry-After", "1");
        resp_json(r, 202, task_json(t));
    } else if (t->state == TASK_COMPLETED) {
        snprintf(loc, sizeof loc, DUMPS "%s", t->snapshot);
        resp_header(r, "Location", loc);
        resp_json(r, 200, task_json(t));
    } else {
        resp_error(r, 500, "GeneralError", "collecting diagnostic data of %s failed: %s", t->vm,
                   t->error);
    }
}

void h_collect_diag(struct req *q, struct resp *r)
{
    if (strcmp(ARG(q, 1), "hv"))
        return resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
    const char *type = json_string_value(json_object_get(q->json, "DiagnosticDataType"));
    const char *oem = json_string_value(json_object_get(q->json, "OEMDiagnosticDataType"));
    const char *key;
    json_t *v;
    json_object_foreach(q->json, key, v)
    {
        if (strcmp(key, "DiagnosticDataType") && strcmp(key, "OEMDiagnosticDataType"))
            return resp_error(r, 400, "ActionParameterUnknown",
                              "CollectDiagnosticData takes no parameter %.64s", key);
    }
    if (!type)
        return resp_error(r, 400, "ActionParameterMissing",
                          "CollectDiagnosticData needs DiagnosticDataType (OEM)");
    if (strcmp(type, "OEM"))
        return resp_error(r, 400, "ActionParameterValueNotInList",
                          "DiagnosticDataType %.40s is not collected here: OEM with "
                          "OEMDiagnosticDataType \"" OEM_TYPE "<vm>\" is",
                          type);
    if (!oem)
        return resp_error(r, 400, "ActionParameterMissing",
                          "DiagnosticDataType OEM needs OEMDiagnosticDataType \"" OEM_TYPE
                          "<vm>\"");
    const char *vm = oem + strlen(OEM_TYPE);
    if (strncmp(oem, OEM_TYPE, strlen(OEM_TYPE)) || !id_ok(vm))
        return resp_error(r, 400, "ActionParameterValueFormatError",
                          "OEMDiagnosticDataType %.80s is not \"" OEM_TYPE "<vm>\"", oem);
    if (!tasks_room())
        goto busy;
    json_t *rep = hv_get(r, json_pack("{s:s, s:s}", "op", "snapshot.take", "vm", vm));
    if (!rep)
        return;
    uint64_t job = (uint64_t)json_integer_value(json_object_get(json_object_get(rep, "job"), "id"));
    json_decref(rep);
    char target[200];
    snprintf(target, sizeof target, "%.190s", q->url);
    struct task *t = task_start(target, q->json, vm, job);
    if (!t)
        goto busy;
    task_refresh(t); /* a small core may be written and hashed already */
    char loc[120];
    snprintf(loc, sizeof loc, MONITORS "%s", t->id);
    resp_header(r, "Location", loc);
    resp_header(r, "Retry-After", "1");
    resp_json(r, 202, task_json(t));
    return;
busy:
    resp_header(r, "Retry-After", "5");
    resp_error(r, 503, "ServiceTemporarilyUnavailable", "%d tasks are running already", TASKS_MAX);
}
