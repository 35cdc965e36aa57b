/* ctl_ops_power.c: the control operations that reset, power off, power on and NMI a VM. */
#include "control/ctl_ops.h"

#include "supervisor/power.h"
#include "vmm/vm.h"

static json_t *answer(struct vm *vm, bool pending)
{
    json_t *j = json_pack("{s:b, s:s}", "ok", 1, "state", vm_state_name(vm_get_state(vm)));
    if (j && pending) /* the service VM: hv restarts it once this answer is sent */
        json_object_set_new(j, "pending", json_true());
    return j;
}

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
    return answer(vm, pending);
}

static json_t *simple(struct hv *hv, const struct ctl_msg *req,
                      int (*fn)(struct hv *, struct vm *, char *, size_t))
{
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    char why[256];
    if (vm->role == VIGIL_ROLE_SERVICE && fn != hv_vm_nmi)
        return ctl_error("EINVAL", "%s is the service VM: it is always on (vm.reset restarts it)",
                         vm->name);
    if (fn(hv, vm, why, sizeof why) < 0)
        return ctl_error("EBUSY", "%s", why);
    return answer(vm, false);
}

json_t *op_vm_poweroff(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return simple(hv, req, hv_vm_poweroff);
}

json_t *op_vm_poweron(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return simple(hv, req, hv_vm_poweron);
}

json_t *op_nmi(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return simple(hv, req, hv_vm_nmi);
}
