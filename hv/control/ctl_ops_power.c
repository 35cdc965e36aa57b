/* ctl_ops_power.c: the control operations that reset, power off, power on and NMI a VM. */
#include "control/ctl_ops.h"

#include "supervisor/power.h"
#include "vmm/vm.h"

json_t *op_vm_reset(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    char why[256];
    bool pending;
    if (hv_vm_reset(hv, vm, &pending, why, sizeof why) < 0)
        return ctl_error("EBUSY", "%s", why);
    json_t *j = ctl_vm_state(vm);
    if (j && pending) /* the service VM: hv restarts it once this answer is sent */
        json_object_set_new(j, "pending", json_true());
    return j;
}

/* Why the service VM has no power-off or power-on: it is hv's way in. */
#define ALWAYS_ON "it is always on (vm.reset restarts it)"

json_t *op_vm_poweroff(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return ctl_vm_op(hv, req, hv_vm_poweroff, ALWAYS_ON);
}

json_t *op_vm_poweron(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return ctl_vm_op(hv, req, hv_vm_poweron, ALWAYS_ON);
}

json_t *op_nmi(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return ctl_vm_op(hv, req, hv_vm_nmi, NULL);
}
