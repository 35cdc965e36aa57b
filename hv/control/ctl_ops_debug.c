/* ctl_ops_debug.c: gdb.start, which starts a VM's GDB stub and names where it listens. */
#include "control/ctl_ops.h"
#include "supervisor/gdbstub.h"

json_t *op_gdb_start(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    int64_t port = ctl_arg_uint(req, "port", 0, &err);
    if (err || !vm)
        return err;
    if (port > 65535)
        return ctl_error("EINVAL", "field \"port\" must be 1..65535 (0: the Unix socket only)");
    char path[128], why[256];
    int in_use = 0;
    if (gdbstub_start(hv, vm, (int)port, path, sizeof path, &in_use, why, sizeof why) < 0)
        return ctl_error("EBUSY", "gdb stub for %s: %s", vm->name, why);
    json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 1, "socket", path, "vm", vm->name);
    if (r && in_use)
        json_object_set_new(r, "port", json_integer(in_use));
    return r;
}
