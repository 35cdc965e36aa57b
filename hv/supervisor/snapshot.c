/* snapshot.c: freezes are microseconds; the core file is written afterwards on its own thread. */
#include "supervisor/snapshot.h"

#include "base/log.h"
#include "base/thread.h"
#include "evidence/snapshot_store.h"
#include "supervisor/events.h"
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MSR_KERNEL_GS_BASE 0xc0000102u

struct job {
    struct hv *hv;
    struct vm *vm;
    char trigger[64];
    uint64_t sel_id;
    uint64_t job_id; /* in hv->jobs: how clients learn the outcome */
    int64_t frozen_ns;
    struct core_vcpu vcpus[HV_MAX_VCPUS];
    json_t *exception;
    json_t *evidence;
    uint32_t summary_vcpu;
};

json_t *snapshot_exception_json(const struct vm *vm)
{
    uint32_t cpu = vm_crashed_vcpu(vm);
    const struct vcpu_state *s = &vm->vcpus[cpu].state;
    const struct kvm_vcpu_events *e = &s->events;
    json_t *j = json_pack(
        "{s:s, s:b, s:b, s:i, s:b, s:I, s:b, s:b, s:i, s:b, s:b}", "stop_reason", vm->stop_reason,
        "exception_injected", e->exception.injected != 0, "exception_pending",
        e->exception.pending != 0, "exception_nr", (int)e->exception.nr, "exception_has_error_code",
        e->exception.has_error_code != 0, "exception_error_code",
        (json_int_t)e->exception.error_code, "nmi_injected", e->nmi.injected != 0, "nmi_pending",
        e->nmi.pending != 0, "interrupt_nr", (int)e->interrupt.nr, "interrupt_injected",
        e->interrupt.injected != 0, "state_valid", vm->vcpus[cpu].state_valid);
    if (vm->req_event >= 0)
        json_object_set_new(j, "event",
                            json_string(policy_event_name((enum policy_event)vm->req_event)));
    return j;
}

static int set_hex(json_t *o, const char *key, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "0x%llx", (unsigned long long)v);
    return json_object_set_new(o, key, json_string(b));
}

json_t *snapshot_evidence_json(const struct vm *vm)
{
    uint32_t cpu = vm_crashed_vcpu(vm);
    const struct fault_evidence *e = &vm->vcpus[cpu].evidence;
    json_t *j = json_pack("{s:b, s:s, s:i}", "registers_lost", e->lost, "registers_from",
                          e->reported ? "fault_report" : "vcpu", "registers_vcpu", (int)cpu);
    if (j && e->lost)
        json_object_set_new(j, "registers_lost_reason", json_string(FAULT_LOST_REASON));
    if (j && e->reported) {
        json_t *f =
            json_pack("{s:i, s:s}", "vector", (int)e->vector, "name", fault_vector_name(e->vector));
        if (f && fault_vector_has_error_code(e->vector))
            set_hex(f, "error_code", e->error_code);
        if (f && e->vector == 14)
            set_hex(f, "cr2", e->cr2);
        json_object_set_new(j, "fault", f);
    }
    return j;
}

/* A Linux guest's own words for its panic, from its log buffer through its System.map and the
 * stopped vCPU's page tables (docs/linux-guest.md); "unknown" without a map or a panic. */
static const char *panic_reason(const struct vm *vm)
{
    static _Thread_local char reason[160];
    snprintf(reason, sizeof reason, "unknown");
    const struct vcpu *v = &vm->vcpus[vm_crashed_vcpu(vm)];
    if (!vm->has_syms || !v->state_valid)
        return reason;
    const struct kvm_sregs *sr = &v->state.sregs;
    struct pagewalk_ctx c = {.cr0 = sr->cr0,
                             .cr3 = sr->cr3,
                             .cr4 = sr->cr4,
                             .efer = sr->efer,
                             .mem = vm->mem,
                             .mem_size = vm->mem_size};
    linux_panic_reason(&c, &vm->syms, reason, sizeof reason);
    return reason;
}

static uint64_t msr_value(const struct vcpu_state *s, uint32_t index)
{
    for (uint32_t i = 0; i < s->msrs.hdr.nmsrs; i++)
        if (s->msrs.e[i].index == index)
            return s->msrs.e[i].data;
    return 0;
}

static void *writer(void *arg)
{
    struct job *j = arg;
    struct vm *vm = j->vm;
    struct core_mem_range range = {.gpa = 0, .len = vm->mem_size, .host = vm->mem};
    struct snapshot_request req = {.vm = vm->name,
                                   .trigger = j->trigger,
                                   .time_ns = j->frozen_ns,
                                   .sel_id = j->sel_id,
                                   .ranges = &range,
                                   .nranges = 1,
                                   .vcpus = j->vcpus,
                                   .nvcpus = vm->nvcpus,
                                   .exception = j->exception,
                                   .summary_vcpu = j->summary_vcpu,
                                   .evidence = j->evidence};
    struct snapshot_info info;
    char err[256];
    int written = snapshot_store_write(j->hv->snapshots, &req, &info, err, sizeof err);
    /* The RAM is no longer read: the VM may run again before the SEL entry and the job say the
     * snapshot is done (a client acting on them finds it free).  hv and the VM stay alive until
     * snapshot_writers drops below. */
    pthread_mutex_lock(&vm->lock);
    vm->snapshot_busy = false;
    hv_wake_main_loop(j->hv);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    if (written < 0) {
        hv_event(j->hv, SEL_WARNING, SEL_T_SNAPSHOT, vm, "snapshot failed: %s", err);
        jobs_finish(&j->hv->jobs, j->job_id, NULL, err, now_ns());
    } else {
        pthread_mutex_lock(&vm->lock);
        snprintf(vm->last_snapshot, sizeof vm->last_snapshot, "%s", info.id);
        pthread_mutex_unlock(&vm->lock);
        atomic_fetch_add(&j->hv->snapshots_written, 1);
        hv_event(j->hv, SEL_OK, SEL_T_SNAPSHOT, vm,
                 "snapshot %s written (%llu MiB core, %llu MiB on disk, durable in %.3f s, "
                 "sha256 %s)",
                 info.id, (unsigned long long)(info.core_bytes >> 20),
                 (unsigned long long)(info.core_allocated_bytes >> 20), info.durable_seconds,
                 info.sha256);
        jobs_finish(&j->hv->jobs, j->job_id, info.id, NULL, now_ns());
    }
    json_decref(j->exception);
    json_decref(j->evidence);
    struct hv *hv = j->hv;
    free(j);
    pthread_mutex_lock(&vm->lock);
    vm->snapshot_writers--;
    /* The main loop finishes what waited for the writer (snapshot_hold, reset_pending).  Woken
     * under the lock: whoever sees the writer done may free hv and the VM (hv's exit). */
    hv_wake_main_loop(hv);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

/* The store computes a snapshot's digest after the snapshot is written: announce it too, as
 * readers of the SEL (the uploader) publish it. */
static void digest_event(void *ctx, const char *id, const char *vm, const char *sha256,
                         double hash_seconds)
{
    hv_event(ctx, SEL_OK, SEL_T_SNAPSHOT, NULL, "snapshot %s of %s: sha256 %s (%.3f s)", id, vm,
             sha256, hash_seconds);
}

int snapshot_begin(struct hv *hv, struct vm *vm, const char *trigger, uint64_t sel_id,
                   uint64_t *job_id, char *err, size_t errlen)
{
    if (!hv->snapshots) {
        snprintf(err, errlen, "no snapshot store is open");
        return -1;
    }
    /* Here rather than where the store is opened (main.c): the first snapshot comes through
     * here; digests finished before it (resumed after a restart) are only logged. */
    snapshot_store_on_digest(hv->snapshots, digest_event, hv);
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (vm_wait_captured(vm, err, errlen) < 0) {
        free(j);
        return -1;
    }
    pthread_mutex_lock(&vm->lock);
    if (vm->snapshot_busy) {
        pthread_mutex_unlock(&vm->lock);
        free(j);
        snprintf(err, errlen, "%s: a snapshot is already being written", vm->name);
        return -1;
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        const struct vcpu_state *s = &vm->vcpus[i].state;
        j->vcpus[i] = (struct core_vcpu){
            .regs = s->regs, .sregs = s->sregs, .kernel_gs_base = msr_value(s, MSR_KERNEL_GS_BASE)};
    }
    j->job_id = jobs_start(&hv->jobs, "snapshot", vm->name, now_ns());
    if (!j->job_id) { /* cannot happen: a VM has one writer at most, and JOBS_KEPT > HV_MAX_VMS */
        pthread_mutex_unlock(&vm->lock);
        free(j);
        snprintf(err, errlen, "too many jobs running");
        return -1;
    }
    vm->snapshot_busy = true;
    vm->snapshot_writers++;
    pthread_mutex_unlock(&vm->lock);
    j->hv = hv;
    j->vm = vm;
    j->sel_id = sel_id;
    j->frozen_ns = (int64_t)wall_ns();
    j->exception = snapshot_exception_json(vm);
    if (j->exception && vm->cfg.kernel)
        json_object_set_new(j->exception, "panic_reason", json_string(panic_reason(vm)));
    j->evidence = snapshot_evidence_json(vm);
    j->summary_vcpu = vm_crashed_vcpu(vm);
    snprintf(j->trigger, sizeof j->trigger, "%s", trigger);
    pthread_t t;
    int rc = hv_thread_create(&t, writer, j);
    if (rc) {
        json_decref(j->exception);
        json_decref(j->evidence);
        snprintf(err, errlen, "cannot start the snapshot writer: %s", strerror(rc));
        jobs_finish(&hv->jobs, j->job_id, NULL, err, now_ns());
        free(j);
        pthread_mutex_lock(&vm->lock);
        vm->snapshot_busy = false;
        vm->snapshot_writers--;
        pthread_mutex_unlock(&vm->lock);
        return -1;
    }
    pthread_detach(t);
    if (job_id)
        *job_id = j->job_id;
    return 0;
}

bool snapshot_busy(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool busy = vm->snapshot_busy;
    pthread_mutex_unlock(&vm->lock);
    return busy;
}

bool snapshot_wait(struct vm *vm, int timeout_ms)
{
    /* vm->cond runs on CLOCK_MONOTONIC (vm_create). */
    struct timespec deadline =
        hv_deadline_ns((uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u);
    pthread_mutex_lock(&vm->lock);
    int rc = 0;
    while ((vm->snapshot_busy || vm->snapshot_writers) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline);
    bool done = !vm->snapshot_busy && !vm->snapshot_writers;
    pthread_mutex_unlock(&vm->lock);
    return done;
}
