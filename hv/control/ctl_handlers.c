/* ctl_handlers.c: the control operations (status, switch, pause, resume, boot, console, regs,
 * stats). */
#include "control/ctl_ops.h"

#include "base/log.h"
#include "supervisor/switch.h"
#include "vmm/vm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONSOLE_READ_MAX (1u << 20)

struct vm *ctl_arg_vm(struct hv *hv, const struct ctl_msg *req, const char *key, json_t **err)
{
    json_t *j = json_object_get(req->json, key);
    if (!json_is_string(j)) {
        *err = ctl_error("EINVAL", "field \"%s\" must be a VM name (string)", key);
        return NULL;
    }
    struct vm *vm = hv_find_vm(hv, json_string_value(j));
    if (!vm)
        *err = ctl_error("ENOENT", "no VM named \"%s\"", json_string_value(j));
    return vm;
}

int64_t ctl_arg_uint(const struct ctl_msg *req, const char *key, int64_t def, json_t **err)
{
    json_t *j = json_object_get(req->json, key);
    if (!j)
        return def;
    if (!json_is_integer(j) || json_integer_value(j) < 0) {
        if (!*err)
            *err = ctl_error("EINVAL", "field \"%s\" must be a non-negative integer", key);
        return -1;
    }
    return json_integer_value(j);
}

static json_t *ok(void)
{
    return json_pack("{s:b}", "ok", 1);
}

static json_t *vm_json(struct hv *hv, struct vm *vm)
{
    uint64_t now = now_ns();
    /* Under the console's own lock, not vm->lock: the vCPUs write it. */
    uint64_t console_out_total = console_output_total(&vm->console);
    pthread_mutex_lock(&vm->lock);
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:I, s:b, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
                  vm->name, "role", vm->role == VIGIL_ROLE_SERVICE ? "service" : "guest", "state",
                  vm_state_name(vm->state), "vcpus", (int)vm->nvcpus, "memory_mib",
                  (json_int_t)(vm->mem_size >> 20), "foreground",
                  atomic_load(&hv->foreground) == vm, "image", vm->cfg.image ? vm->cfg.image : "",
                  "state_seconds", (double)(now - vm->state_ns) / 1e9, "boot_monotonic_ns",
                  (json_int_t)vm->boot_ns, "switches_in", (json_int_t)atomic_load(&vm->switches_in),
                  "switches_out", (json_int_t)atomic_load(&vm->switches_out), "heartbeats",
                  (json_int_t)atomic_load(&vm->heartbeats), "bad_hypercalls",
                  (json_int_t)atomic_load(&vm->bad_hypercalls), "console_bytes",
                  (json_int_t)console_out_total);
    json_object_set_new(j, "snapshot_writing", json_boolean(vm->snapshot_busy));
    /* Time since its last boot (vm_start), while it is on: a reset starts it again at 0. */
    if (vm->boot_ns &&
        (vm->state == VM_RUNNING || vm->state == VM_PAUSED || vm->state == VM_FROZEN))
        json_object_set_new(j, "uptime_seconds", json_real((double)(now - vm->boot_ns) / 1e9));
    if (vm->state == VM_HALTED || vm->state == VM_CRASHED) {
        json_object_set_new(j, "stop_reason", json_string(vm->stop_reason));
        json_object_set_new(j, "halt_status", json_integer((json_int_t)vm->halt_status));
    }
    pthread_mutex_unlock(&vm->lock);
    uint64_t hb = atomic_load(&vm->last_heartbeat_ns);
    if (hb)
        json_object_set_new(j, "heartbeat_age_ms", json_real((double)(now - hb) / 1e6));
    return j;
}

static json_t *op_hello(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)hv, (void)req, (void)out;
    return json_pack("{s:b, s:i, s:s, s:i}", "ok", 1, "protocol", VIGIL_CTL_VERSION, "hv",
                     "vigil-hv 0.1", "hypercall_abi", VIGIL_ABI_VERSION);
}

static json_t *op_status(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)req, (void)out;
    json_t *vms = json_array();
    for (uint32_t i = 0; i < hv->nvms; i++)
        json_array_append_new(vms, vm_json(hv, hv->vms[i]));
    struct vm *fg = atomic_load(&hv->foreground);
    return json_pack(
        "{s:b, s:I, s:s, s:b, s:s, s:f, s:o, s:{s:I, s:I}}", "ok", 1, "service_restarts",
        (json_int_t)atomic_load(&hv->service_restarts), "mode",
        hv->service ? "normal" : "devirtualized", "traps_armed", atomic_load(&hv->traps_armed),
        "foreground", fg ? fg->name : "", "uptime_seconds", (double)(now_ns() - hv->start_ns) / 1e9,
        "vms", vms, "switches", "to_guest", (json_int_t)stats_count(&hv->switch_to_guest),
        "to_service", (json_int_t)(hv->service ? atomic_load(&hv->service->switches_in) : 0));
}

static json_t *op_switch(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    uint64_t t0 = now_ns();
    json_t *err = NULL;
    struct vm *target = NULL;
    const char *name = json_string_value(json_object_get(req->json, "target"));
    if (!name)
        return ctl_error("EINVAL", "field \"target\" must be \"guest\", \"service\" or a VM name");
    if (!strcmp(name, "guest"))
        target = hv->default_guest;
    else if (!strcmp(name, "service"))
        target = hv->service;
    else
        target = ctl_arg_vm(hv, req, "target", &err);
    if (!target)
        return err ? err : ctl_error("ENOENT", "there is no %s VM", name);
    char why[256];
    if (hv_switch_to(hv, target, "control request", t0, why, sizeof why) < 0)
        return ctl_error("EBUSY", "%s", why);
    return json_pack("{s:b, s:s, s:f}", "ok", 1, "foreground", target->name, "switch_us",
                     (double)(now_ns() - t0) / 1e3);
}

json_t *ctl_vm_op(struct hv *hv, const struct ctl_msg *req,
                  int (*fn)(struct hv *, struct vm *, char *, size_t), const char *service_refusal)
{
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    if (service_refusal && vm->role == VIGIL_ROLE_SERVICE)
        return ctl_error("EINVAL", "%s is the service VM: %s", vm->name, service_refusal);
    char why[256];
    if (fn(hv, vm, why, sizeof why) < 0)
        return ctl_error("EBUSY", "%s", why);
    return json_pack("{s:b, s:s}", "ok", 1, "state", vm_state_name(vm_get_state(vm)));
}

static json_t *op_pause(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return ctl_vm_op(hv, req, hv_pause, NULL);
}

static json_t *op_resume(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return ctl_vm_op(hv, req, hv_resume, NULL);
}

static json_t *op_boot(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    return ctl_vm_op(hv, req, hv_boot, NULL);
}

static json_t *op_console_read(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    int64_t from = ctl_arg_uint(req, "offset", 0, &err);
    int64_t max = ctl_arg_uint(req, "max", 0, &err);
    if (err)
        return err;
    if (max == 0 || max > CONSOLE_READ_MAX)
        max = CONSOLE_READ_MAX;
    out->data = malloc((size_t)max);
    if (!out->data)
        return ctl_error("ENOMEM", "out of memory");
    uint64_t start, next;
    out->data_len = (uint32_t)console_read_output(&vm->console, (uint64_t)from, out->data,
                                                  (size_t)max, &start, &next);
    return json_pack("{s:b, s:I, s:I, s:b}", "ok", 1, "start", (json_int_t)start, "next",
                     (json_int_t)next, "lost", start > (uint64_t)from);
}

static json_t *op_console_write(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    json_t *text = json_object_get(req->json, "text");
    const void *bytes = req->data;
    size_t len = req->data_len;
    if (json_is_string(text)) {
        bytes = json_string_value(text);
        len = json_string_length(text);
    } else if (text) {
        return ctl_error("EINVAL", "field \"text\" must be a string");
    }
    size_t n = vm_console_in(vm, bytes, len);
    return json_pack("{s:b, s:I, s:I}", "ok", 1, "accepted", (json_int_t)n, "dropped",
                     (json_int_t)(len - n));
}

static json_t *regs_json(const struct vcpu_state *s)
{
    const struct kvm_regs *r = &s->regs;
    const struct kvm_sregs *sr = &s->sregs;
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:I}",
        "rax", (json_int_t)r->rax, "rbx", (json_int_t)r->rbx, "rcx", (json_int_t)r->rcx, "rdx",
        (json_int_t)r->rdx, "rsi", (json_int_t)r->rsi, "rdi", (json_int_t)r->rdi, "rbp",
        (json_int_t)r->rbp, "rsp", (json_int_t)r->rsp, "r8", (json_int_t)r->r8, "r9",
        (json_int_t)r->r9, "r10", (json_int_t)r->r10, "r11", (json_int_t)r->r11, "r12",
        (json_int_t)r->r12, "r13", (json_int_t)r->r13, "r14", (json_int_t)r->r14, "r15",
        (json_int_t)r->r15, "rip", (json_int_t)r->rip, "rflags", (json_int_t)r->rflags, "cr0",
        (json_int_t)sr->cr0, "cr2", (json_int_t)sr->cr2, "cr3", (json_int_t)sr->cr3, "cr4",
        (json_int_t)sr->cr4, "efer", (json_int_t)sr->efer, "cs", (int)sr->cs.selector, "cpl",
        (int)(sr->cs.selector & 3), "fs_base", (json_int_t)sr->fs.base);
}

static json_t *op_regs(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    char why[200];
    vm_wait_captured(vm, why, sizeof why);
    pthread_mutex_lock(&vm->lock);
    enum vm_state st = vm->state;
    json_t *cpus = json_array();
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i].parked && vm->vcpus[i].state_valid) {
            const struct fault_evidence *e = &vm->vcpus[i].evidence;
            json_t *r = regs_json(&vm->vcpus[i].state);
            /* Whether these are the guest's registers: see docs/platforms.md. */
            json_object_set_new(r, "registers_lost", json_boolean(e->lost));
            json_object_set_new(r, "registers_from",
                                json_string(e->reported ? "fault_report" : "vcpu"));
            json_array_append_new(cpus, r);
        }
    pthread_mutex_unlock(&vm->lock);
    if (st == VM_RUNNING || st == VM_CREATED || json_array_size(cpus) == 0) {
        json_decref(cpus);
        return ctl_error("EBUSY",
                         "%s is %s: its registers are only held while it is stopped (pause it "
                         "or switch away from it)",
                         vm->name, vm_state_name(st));
    }
    return json_pack("{s:b, s:s, s:o}", "ok", 1, "state", vm_state_name(st), "vcpus", cpus);
}

static json_t *summary_json(struct latency_stats *s)
{
    struct latency_summary m = stats_summary(s);
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "count", (json_int_t)m.count, "min_us",
                     (double)m.min / 1e3, "p50_us", (double)m.p50 / 1e3, "p90_us",
                     (double)m.p90 / 1e3, "p99_us", (double)m.p99 / 1e3, "max_us",
                     (double)m.max / 1e3, "mean_us", m.mean / 1e3);
}

static json_t *op_stats(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *r =
        json_pack("{s:b, s:I, s:o, s:o, s:o, s:o}", "ok", 1, "entry_misses",
                  (json_int_t)atomic_load(&hv->entry_misses), "switch_to_guest",
                  summary_json(&hv->switch_to_guest), "switch_to_service",
                  summary_json(&hv->switch_to_service), "guest_freeze",
                  summary_json(&hv->freeze_latency), "trap_freeze", summary_json(&hv->trap_freeze));
    if (json_is_true(json_object_get(req->json, "reset"))) {
        stats_reset(&hv->switch_to_guest);
        stats_reset(&hv->switch_to_service);
        stats_reset(&hv->freeze_latency);
        stats_reset(&hv->trap_freeze);
        atomic_store(&hv->entry_misses, 0);
    }
    return r;
}

static json_t *op_quit(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)req, (void)out;
    log_info("quit requested over the control socket");
    atomic_store(&hv->quit, true);
    hv_wake_main_loop(hv);
    return ok();
}

static const struct {
    const char *name;
    ctl_fn fn;
} ops[] = {
    {"hello", op_hello},
    {"status", op_status},
    {"switch", op_switch},
    {"pause", op_pause},
    {"resume", op_resume},
    {"boot", op_boot},
    {"console.read", op_console_read},
    {"console.write", op_console_write},
    {"regs", op_regs},
    {"stats", op_stats},
    {"quit", op_quit},
    {"sel", op_sel},
    {"sel.clear", op_sel_clear},
    {"sel.add", op_sel_add},
    {"sensors", op_sensors},
    {"sensors.override", op_sensors_override},
    {"metrics", op_metrics},
    {"events", op_events},
    {"policy.get", op_policy_get},
    {"policy.set", op_policy_set},
    {"trap", op_trap},
    {"snapshot.take", op_snapshot_take},
    {"snapshot.list", op_snapshot_list},
    {"snapshot.show", op_snapshot_show},
    {"snapshot.delete", op_snapshot_delete},
    {"snapshot.read", op_snapshot_read},
    {"snapshot.pin", op_snapshot_pin},
    {"job", op_job},
    {"peek", op_peek},
    {"gdb.start", op_gdb_start},
    {"service.attach", op_service_attach},
    {"service.detach", op_service_detach},
    {"nv.put", op_nv_put},
    {"nv.get", op_nv_get},
    {"nv.delete", op_nv_delete},
    {"nv.list", op_nv_list},
    {"vm.reset", op_vm_reset},
    {"vm.poweroff", op_vm_poweroff},
    {"vm.poweron", op_vm_poweron},
    {"nmi", op_nmi},
};

void ctl_handle(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    memset(out, 0, sizeof *out);
    const char *op = json_string_value(json_object_get(req->json, "op"));
    if (req->kind != VIGIL_CTL_REQUEST) {
        out->json = ctl_error("EINVAL", "expected a request message");
        return;
    }
    if (!op) {
        out->json = ctl_error("EINVAL", "missing string field \"op\"");
        return;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(op, ops[i].name)) {
            out->json = ops[i].fn(hv, req, out);
            if (!out->json)
                out->json = ctl_error("ENOMEM", "out of memory");
            return;
        }
    out->json = ctl_error("ENOSYS", "unknown operation \"%.64s\"", op);
}
