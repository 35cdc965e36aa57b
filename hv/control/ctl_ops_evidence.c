/* ctl_ops_evidence.c: control operations for traps and evidence: policy, snapshots, peek, operator
 * trap. */
#include "control/ctl_ops.h"

#include "base/log.h"
#include "evidence/snapshot_store.h"
#include "supervisor/events.h"
#include "supervisor/interpose.h"
#include "supervisor/rearm.h"
#include "supervisor/snapshot.h"
#include "supervisor/switch.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"
#include "x86/pagewalk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PEEK_MAX (1u << 20)

json_t *op_policy_get(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)req, (void)out;
    return json_pack("{s:b, s:o}", "ok", 1, "policy", policy_to_json(&hv->policy));
}

/* Whether the change touches what lives in KVM: protected ranges and forbidden MSRs. */
static bool traps_differ(const struct policy_params *a, const struct policy_params *b)
{
    return a->nprotected != b->nprotected || a->nmsrs != b->nmsrs ||
           memcmp(a->protected_ranges, b->protected_ranges,
                  a->nprotected * sizeof a->protected_ranges[0]) ||
           memcmp(a->msrs, b->msrs, a->nmsrs * sizeof a->msrs[0]);
}

json_t *op_policy_set(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *policy = json_object_get(req->json, "policy");
    char err[512];
    if (!json_is_object(policy))
        return ctl_error("EINVAL", "field \"policy\" must be an object (see docs/policy.md)");
    struct policy_params before;
    struct policy_draft draft;
    pthread_mutex_lock(&hv->switch_lock);
    policy_get_params(&hv->policy, &before);
    if (policy_draft_json(&hv->policy, policy, &draft, err, sizeof err) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return ctl_error("EINVAL", "%s", err);
    }
    /* Protected ranges and the MSR filter live in KVM: every guest gets the new ones before
     * the policy takes effect, so that if KVM refuses, guests and policy stay as they were.
     * Devirtualized, the guest must run untrapped: the policy is only stored, and the next
     * service attach arms it. */
    bool armed = atomic_load(&hv->traps_armed);
    if (armed && traps_differ(&before, &draft.params) &&
        traps_rearm_guests(hv, &before, &draft.params, err, sizeof err) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        hv_event(hv, SEL_WARNING, SEL_T_POLICY_CHANGE, NULL, "policy change refused: %s", err);
        return ctl_error("EIO", "policy not changed: KVM refused the new traps: %s", err);
    }
    policy_commit_draft(&hv->policy, &draft);
    pthread_mutex_unlock(&hv->switch_lock);
    char *text = json_dumps(policy, JSON_COMPACT);
    hv_event(hv, SEL_OK, SEL_T_POLICY_CHANGE, NULL, "policy changed%s: %.200s",
             armed ? "" : " (stored; armed at the next service attach)", text ? text : "?");
    free(text);
    json_t *reply = json_pack("{s:b, s:o, s:b}", "ok", 1, "policy", policy_to_json(&hv->policy),
                              "armed", armed);
    if (reply && !armed)
        json_object_set_new(reply, "note",
                            json_string("devirtualized: no traps are armed while the guest runs "
                                        "alone; the policy is stored and armed at the next "
                                        "service attach"));
    return reply;
}

json_t *op_trap(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    enum vm_state st = vm_get_state(vm);
    if (st != VM_RUNNING && st != VM_PAUSED)
        return ctl_error("EBUSY", "%s is %s: an operator trap needs a running or paused VM",
                         vm->name, vm_state_name(st));
    trap_raise(vm, NULL, POLICY_EV_OPERATOR, "operator request over the control socket");
    return json_pack("{s:b, s:s}", "ok", 1, "action",
                     policy_action_name(policy_action_for(&hv->policy, POLICY_EV_OPERATOR)));
}

/* A job as clients see it; a finished snapshot's metadata comes along while the store has it. */
static json_t *job_json(struct hv *hv, const struct hv_job *j)
{
    uint64_t end = j->state == JOB_RUNNING ? now_ns() : j->end_ns;
    json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:f}", "id", (json_int_t)j->id, "kind", j->kind,
                          "vm", j->subject, "state", job_state_name(j->state), "seconds",
                          (double)(end - j->start_ns) / 1e9);
    if (o && j->state == JOB_DONE) {
        json_object_set_new(o, "snapshot_id", json_string(j->result));
        json_t *meta = snapshot_store_show(hv->snapshots, j->result);
        if (meta)
            json_object_set_new(o, "snapshot", meta);
    }
    if (o && j->state == JOB_FAILED)
        json_object_set_new(o, "error", json_string(j->error));
    return o;
}

json_t *op_snapshot_take(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    if (!vm)
        return err;
    char why[256];
    pthread_mutex_lock(&hv->switch_lock);
    enum vm_state st = vm_get_state(vm);
    const char *refusal = st == VM_CREATED    ? "has not booted: there is nothing to capture"
                          : snapshot_busy(vm) ? "is being captured already: wait for that job"
                                              : NULL;
    if (refusal) {
        pthread_mutex_unlock(&hv->switch_lock);
        return ctl_error("EBUSY", "%s %s", vm->name, refusal);
    }
    bool was_running = st == VM_RUNNING;
    uint64_t t0 = now_ns();
    if (was_running && vm_park(vm, why, sizeof why) < 0) {
        pthread_mutex_unlock(&hv->switch_lock);
        return ctl_error("EBUSY", "%s", why);
    }
    uint64_t frozen_us = (now_ns() - t0) / 1000;
    uint64_t sel_id = hv_event(hv, SEL_OK, SEL_T_SNAPSHOT, vm, "snapshot requested by an operator");
    uint64_t job_id = 0;
    int rc = snapshot_begin(hv, vm, "request", sel_id, &job_id, why, sizeof why);
    /* The core is read from RAM while it is written: the VM stays parked, and the main loop lets
     * it run again when the writer is done (settle_deferred).  Nobody waits here. */
    if (rc == 0 && was_running)
        vm->snapshot_hold = true;
    else if (was_running) {
        char ignored[160]; /* it was running a moment ago; why it cannot is in the SEL */
        vm_unpark(vm, false, 0, ignored, sizeof ignored);
    }
    pthread_mutex_unlock(&hv->switch_lock);
    struct hv_job j;
    if (rc < 0 || !jobs_get(&hv->jobs, job_id, &j))
        return ctl_error("EBUSY", "%s", rc < 0 ? why : "the snapshot job is gone");
    return json_pack("{s:b, s:I, s:o}", "ok", 1, "frozen_us", (json_int_t)frozen_us, "job",
                     job_json(hv, &j));
}

json_t *op_job(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    int64_t id = ctl_arg_uint(req, "id", -1, &err);
    if (err)
        return err;
    struct hv_job j;
    if (id < 0 || !jobs_get(&hv->jobs, (uint64_t)id, &j))
        return ctl_error("ENOENT", "no job %lld (hv keeps the last %d)", (long long)id, JOBS_KEPT);
    return json_pack("{s:b, s:o}", "ok", 1, "job", job_json(hv, &j));
}

json_t *op_snapshot_list(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)req, (void)out;
    return json_pack("{s:b, s:o}", "ok", 1, "snapshots", snapshot_store_list(hv->snapshots));
}

static const char *arg_id(const struct ctl_msg *req, json_t **err)
{
    const char *id = json_string_value(json_object_get(req->json, "id"));
    if (!id || !snapshot_id_valid(id))
        *err =
            ctl_error("EINVAL", "field \"id\" must be a snapshot id ([A-Za-z0-9_-], at most 63)");
    return *err ? NULL : id;
}

json_t *op_snapshot_show(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    const char *id = arg_id(req, &err);
    if (!id)
        return err;
    json_t *meta = snapshot_store_show(hv->snapshots, id);
    if (!meta)
        return ctl_error("ENOENT", "no snapshot \"%s\"", id);
    char path[4096];
    if (snapshot_store_core_path(hv->snapshots, id, path, sizeof path) == 0)
        json_object_set_new(meta, "core_path", json_string(path));
    return json_pack("{s:b, s:o}", "ok", 1, "snapshot", meta);
}

json_t *op_snapshot_delete(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    const char *id = arg_id(req, &err);
    if (!id)
        return err;
    if (snapshot_store_delete(hv->snapshots, id) < 0)
        return ctl_error("ENOENT", "no snapshot \"%s\"", id);
    hv_event(hv, SEL_OK, SEL_T_SNAPSHOT, NULL, "snapshot %s deleted by an operator", id);
    return json_pack("{s:b}", "ok", 1);
}

json_t *op_snapshot_pin(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    const char *id = arg_id(req, &err);
    json_t *p = json_object_get(req->json, "pinned");
    if (!id)
        return err;
    if (p && !json_is_boolean(p))
        return ctl_error("EINVAL", "field \"pinned\" must be true or false");
    int rc = snapshot_store_pin(hv->snapshots, id, !p || json_is_true(p));
    if (rc == -ENOENT)
        return ctl_error("ENOENT", "no snapshot \"%s\"", id);
    if (rc == -ENOSPC)
        return ctl_error("ENOSPC", "%d snapshots are pinned already: unpin one first",
                         SNAPSHOT_PIN_MAX);
    if (rc < 0)
        return ctl_error("EIO", "cannot pin %s: %s", id, strerror(-rc));
    return json_pack("{s:b, s:b}", "ok", 1, "pinned", !p || json_is_true(p));
}

json_t *op_peek(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    json_t *err = NULL;
    struct vm *vm = ctl_arg_vm(hv, req, "vm", &err);
    /* A kernel's virtual addresses (0xffffffff8...) do not fit JSON's signed integers: "addr"
     * may also be a string, "0x..." or decimal. */
    json_t *ja = json_object_get(req->json, "addr");
    uint64_t addr = 0;
    bool have_addr = ja != NULL;
    if (json_is_string(ja)) {
        const char *s = json_string_value(ja);
        char *end;
        errno = 0;
        addr = strtoull(s, &end, 0);
        if (!*s || *end || errno || *s == '-')
            return ctl_error("EINVAL", "field \"addr\": \"%s\" is not an address", s);
    } else if (ja) {
        int64_t a = ctl_arg_uint(req, "addr", -1, &err);
        addr = (uint64_t)a;
    }
    int64_t len = ctl_arg_uint(req, "len", 256, &err);
    int64_t cpu = ctl_arg_uint(req, "vcpu", 0, &err);
    bool virt = json_is_true(json_object_get(req->json, "virtual"));
    if (err || !vm)
        return err;
    if (!have_addr)
        return ctl_error("EINVAL", "field \"addr\" is required");
    if (len == 0 || len > PEEK_MAX)
        return ctl_error("EINVAL", "field \"len\" must be 1..%u", PEEK_MAX);
    if (!vm->mem)
        return ctl_error("EBUSY", "%s has no memory right now", vm->name);
    if (!virt) {
        const void *src = vm_gpa(vm, addr, (uint64_t)len);
        if (!src)
            return ctl_error("EFAULT", "[0x%llx, +%lld) is outside %s's %llu MiB of RAM",
                             (unsigned long long)addr, (long long)len, vm->name,
                             (unsigned long long)(vm->mem_size >> 20));
        out->data = malloc((size_t)len);
        if (!out->data)
            return ctl_error("ENOMEM", "out of memory");
        memcpy(out->data, src, (size_t)len);
        out->data_len = (uint32_t)len;
        return json_pack("{s:b, s:I}", "ok", 1, "gpa", (json_int_t)addr);
    }
    if (cpu >= vm->nvcpus)
        return ctl_error("EINVAL", "field \"vcpu\": %s has %u vCPUs", vm->name, vm->nvcpus);
    char why[200];
    vm_wait_captured(vm, why, sizeof why);
    pthread_mutex_lock(&vm->lock);
    bool held = vm->vcpus[cpu].parked && vm->vcpus[cpu].state_valid;
    struct kvm_sregs sr = vm->vcpus[cpu].state.sregs;
    pthread_mutex_unlock(&vm->lock);
    if (!held)
        return ctl_error(
            "EBUSY",
            "%s is %s: virtual addresses are translated with the registers of a stopped "
            "VM (pause it or switch away from it)",
            vm->name, vm_state_name(vm_get_state(vm)));
    struct pagewalk_ctx c = {.cr0 = sr.cr0,
                             .cr3 = sr.cr3,
                             .cr4 = sr.cr4,
                             .efer = sr.efer,
                             .mem = vm->mem,
                             .mem_size = vm->mem_size};
    out->data = malloc((size_t)len);
    if (!out->data)
        return ctl_error("ENOMEM", "out of memory");
    size_t copied = 0;
    struct pagewalk_result r;
    enum pagewalk_status st = pagewalk_read_virt(&c, addr, out->data, (size_t)len, &copied, &r);
    out->data_len = (uint32_t)copied;
    if (st != PW_OK && copied == 0)
        return ctl_error("EFAULT", "0x%llx: %s", (unsigned long long)addr, r.message);
    return json_pack("{s:b, s:I, s:I, s:I, s:s}", "ok", 1, "gva", (json_int_t)addr, "gpa",
                     (json_int_t)r.gpa, "copied", (json_int_t)copied, "walk", r.message);
}

json_t *op_service_attach(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out;
    json_t *err = NULL;
    json_t *image = json_object_get(req->json, "image");
    int64_t mem = ctl_arg_uint(req, "mem_mib", 0, &err);
    if (err)
        return err;
    if (image && !json_is_string(image))
        return ctl_error("EINVAL", "field \"image\" must be a path");
    char why[512];
    uint64_t t0 = now_ns();
    if (interpose_attach(hv, json_string_value(image), (uint64_t)mem, why, sizeof why) < 0)
        return ctl_error("EBUSY", "%s", why);
    return json_pack("{s:b, s:f}", "ok", 1, "attach_ms", (double)(now_ns() - t0) / 1e6);
}

json_t *op_service_detach(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out)
{
    (void)out, (void)req;
    char why[512];
    if (interpose_detach(hv, why, sizeof why) < 0)
        return ctl_error("EBUSY", "%s", why);
    return json_pack("{s:b}", "ok", 1);
}
