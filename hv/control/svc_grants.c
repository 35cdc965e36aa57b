/* svc_grants.c: the operations the service channel grants the service VM.  Everything the
 * management agent needs; not what would let it stop hv or remove itself (quit,
 * service.attach/detach) nor fake the hardware (sensors.override, a test aid). */
#include "control/svc_serve.h"

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
    "nv.list",       "events",
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
