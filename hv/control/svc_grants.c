/* svc_grants.c: the operations the service channel grants the service VM.  Everything the
 * management agent needs; not what would let it stop hv or remove itself (quit,
 * service.attach/detach), stop itself for good (pause or trap naming itself: nothing in it
 * could resume it) nor fake the hardware (sensors.override, a test aid). */
#include "control/svc_serve.h"

#include <stdio.h>
#include <string.h>

static const char *const granted[] = {
    "hello",         "status",        "switch",
    "pause",         "resume",        "boot",
    "console.read",  "console.write", "regs",
    "stats",         "sel",           "sel.clear",
    "sensors",       "metrics",       "policy.get",
    "policy.set",    "trap",          "snapshot.take",
    "snapshot.list", "snapshot.show", "snapshot.delete",
    "snapshot.read", "job",           "peek",
    "nv.put",        "nv.get",        "nv.delete",
    "nv.list",       "events",        "vm.reset",
    "vm.poweroff",   "vm.poweron",    "nmi",
    "sel.add",       "snapshot.pin",
};

const char *const *svc_granted_ops(size_t *n)
{
    *n = sizeof granted / sizeof granted[0];
    return granted;
}

bool svc_op_granted(const char *op)
{
    for (size_t i = 0; op && i < sizeof granted / sizeof granted[0]; i++)
        if (!strcmp(op, granted[i]))
            return true;
    return false;
}

/* Operations the service VM may make, but not on itself (vm.reset on itself is hv's own restart
 * path: allowed; vm.poweroff/poweron refuse the service VM anyway). */
static const char *const not_on_itself[] = {"pause", "trap", "nmi"};

bool svc_request_allowed(struct vm *service, const char *op, const json_t *req, char *why,
                         size_t len)
{
    if (!svc_op_granted(op)) {
        snprintf(why, len,
                 "operation \"%.64s\" is not granted to the service VM (docs/service-channel.md)",
                 op ? op : "");
        return false;
    }
    const char *vm = json_string_value(json_object_get(req, "vm"));
    for (size_t i = 0; vm && service && i < sizeof not_on_itself / sizeof not_on_itself[0]; i++)
        if (!strcmp(op, not_on_itself[i]) && !strcmp(vm, service->name)) {
            snprintf(why, len,
                     "the service VM may not %s itself: nothing in it could make it run again", op);
            return false;
        }
    return true;
}
