/* ctl_ops_bmc.c: control operations of the BMC side: the system event log, sensors, the event
 * stream (metrics: ctl_ops_metrics.c). */
#include "control/ctl_ops.h"

#include "supervisor/events.h"
#include "supervisor/evstream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEL_READ_MAX 1000

json_t *op_sel(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    int64_t after = ctl_arg_uint(req, "after", 0, &err);
    int64_t max = ctl_arg_uint(req, "max", SEL_READ_MAX, &err);
    if (err)
        return err;
    if (max == 0 || max > SEL_READ_MAX)
        max = SEL_READ_MAX;
    struct sel_entry *entries = calloc((size_t)max, sizeof *entries);
    if (!entries)
        return ctl_error("ENOMEM", "out of memory");
    size_t n = sel_read(hv->sel, (uint64_t)after, entries, (size_t)max);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, sel_entry_json(&entries[i]));
    free(entries);
    struct sel_info info;
    sel_get_info(hv->sel, &info);
    return json_pack("{s:b, s:o, s:I, s:I, s:i, s:s}", "ok", 1, "entries", list, "last_id",
                     (json_int_t)info.last_id, "first_id", (json_int_t)info.first_id, "capacity",
                     (int)info.capacity, "overwrite_policy", "WrapsWhenFull");
}

json_t *op_sel_clear(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out, (void)req;
    uint64_t id = sel_clear(hv->sel, "control socket");
    if (!id)
        return ctl_error("EIO", "the log could not be rewritten; it is kept as it was");
    return json_pack("{s:b, s:I}", "ok", 1, "cleared_entry_id", (json_int_t)id);
}

/* An entry the management side writes (a crash report's receipt, a dropped report): always type
 * "Other" and marked as the agent's, so it cannot pass for one of hv's own events. */
json_t *op_sel_add(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    const char *msg = json_string_value(json_object_get(req->json, "message"));
    const char *sev = json_string_value(json_object_get(req->json, "severity"));
    const char *vm = json_string_value(json_object_get(req->json, "vm"));
    if (!msg || !*msg || strlen(msg) > 200)
        return ctl_error("EINVAL", "sel.add needs a message of 1 to 200 characters");
    int s = sev ? sel_severity_parse(sev) : (int)SEL_OK;
    if (s < 0)
        return ctl_error("EINVAL", "severity must be OK, Warning or Critical");
    if (vm && strlen(vm) >= SEL_VM_MAX)
        return ctl_error("EINVAL", "vm names at most 63 characters");
    uint64_t id = sel_append(hv->sel, (enum sel_severity)s, SEL_T_OTHER, vm, "agent: %s", msg);
    return json_pack("{s:b, s:I}", "ok", 1, "id", (json_int_t)id);
}

json_t *op_sensors(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out, (void)req;
    if (!hv->sensors)
        return ctl_error("ENODEV", "no sensors are available");
    return json_pack("{s:b, s:o}", "ok", 1, "sensors", sensors_json(hv->sensors));
}

json_t *op_sensors_override(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    const char *name = json_string_value(json_object_get(req->json, "name"));
    json_t *value = json_object_get(req->json, "value");
    if (!hv->sensors)
        return ctl_error("ENODEV", "no sensors are available");
    if (!name)
        return ctl_error("EINVAL", "field \"name\" must be a sensor name");
    if (value && !json_is_number(value) && !json_is_null(value))
        return ctl_error("EINVAL",
                         "field \"value\" must be a number, or null to release the override");
    double v = json_is_number(value) ? json_number_value(value) : NAN;
    if (sensors_override(hv->sensors, name, v) < 0)
        return ctl_error("ENOENT", "no sensor named \"%s\"", name);
    hv_event(hv, SEL_OK, SEL_T_OPERATOR, NULL, "sensor %s %s by an operator", name,
             isnan(v) ? "override released" : "reading overridden");
    return json_pack("{s:b}", "ok", 1);
}

json_t *op_events(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    int64_t after = ctl_arg_uint(req, "after", 0, &err);
    int64_t max = ctl_arg_uint(req, "max", EVSTREAM_READ_MAX, &err);
    if (err)
        return err;
    if (!hv->evstream)
        return ctl_error("ENOSYS", "hv keeps no event stream");
    json_t *r =
        evstream_read(hv->evstream, (uint64_t)after, (unsigned)(max > 0xffff ? 0xffff : max));
    if (r)
        json_object_set_new(r, "ok", json_true());
    return r;
}
