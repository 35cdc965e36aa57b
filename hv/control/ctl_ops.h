/* ctl_ops.h: the control operations, split by area across ctl_ops_*.c, and their shared helpers. */
#ifndef HV_CTL_OPS_H
#define HV_CTL_OPS_H

#include "control/ctl_handlers.h"

typedef json_t *(*ctl_fn)(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

/* The VM named by string field `key`, or NULL with *err set to an error response. */
struct vm *ctl_arg_vm(struct hv *hv, const struct ctl_msg *req, const char *key, json_t **err);
/* A non-negative integer field, `def` when absent; -1 (with *err) when malformed. */
int64_t ctl_arg_uint(const struct ctl_msg *req, const char *key, int64_t def, json_t **err);

/* System event log and sensors (ctl_ops_bmc.c). */
json_t *op_sel(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_sel_clear(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_sel_add(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_sensors(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_sensors_override(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_metrics(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_events(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

/* Traps and evidence (ctl_ops_evidence.c). */
json_t *op_policy_get(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_policy_set(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_trap(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_snapshot_take(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_snapshot_list(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_snapshot_show(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_snapshot_pin(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_snapshot_delete(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_job(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_service_attach(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_service_detach(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_peek(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

/* NV records and snapshot bulk reads (ctl_ops_nv.c). */
json_t *op_nv_put(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_nv_get(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_nv_delete(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_nv_list(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_snapshot_read(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

/* The answer to an operation on vm: {"ok": true, "state": its state now} (ctl_handlers.c). */
json_t *ctl_vm_state(struct vm *vm);
/* Looks up req's "vm", refuses the service VM with service_refusal's reason when that is not
 * NULL, runs fn (EBUSY with its reason on failure) and answers the VM's state (ctl_handlers.c). */
json_t *ctl_vm_op(struct hv *hv, const struct ctl_msg *req,
                  int (*fn)(struct hv *, struct vm *, char *, size_t), const char *service_refusal);

/* Reset, power and NMI (ctl_ops_power.c). */
json_t *op_vm_reset(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_vm_poweroff(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_vm_poweron(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);
json_t *op_nmi(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

/* The GDB stub (ctl_ops_debug.c). */
json_t *op_gdb_start(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

#endif
