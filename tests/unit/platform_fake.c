/* platform_fake.c: the unit tests' platform backend: its records, creation, what tests read. */
#include "platform_fake_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[] = {
    "OPEN",
    "CLOSE",
    "CREATE_VM",
    "DESTROY_VM",
    "GET_TSC_KHZ",
    "SET_MEMSLOT",
    "ENABLE_CAP",
    "SET_MSR_FILTER",
    "IRQ_LINE",
    "CREATE_VCPU",
    "DESTROY_VCPU",
    "SET_CPUID",
    "RUN",
    "KICK",
    "NMI",
    "GET_REGS",
    "SET_REGS",
    "GET_SREGS",
    "SET_SREGS",
    "GET_FPU",
    "SET_FPU",
    "GET_XSAVE",
    "SET_XSAVE",
    "GET_XCRS",
    "SET_XCRS",
    "GET_MSRS",
    "SET_MSRS",
    "GET_LAPIC",
    "SET_LAPIC",
    "GET_EVENTS",
    "SET_EVENTS",
    "GET_MP_STATE",
    "SET_MP_STATE",
    "GET_DEBUGREGS",
    "SET_DEBUGREGS",
    "GET_IRQCHIP",
    "SET_IRQCHIP",
    "GET_PIT",
    "SET_PIT",
    "GET_CLOCK",
    "SET_CLOCK",
    "KVMCLOCK_CTRL",
    "SET_GUEST_DEBUG",
};

_Static_assert(sizeof op_names / sizeof op_names[0] == FAKE_OP_COUNT, "a name for every op");

const char *fake_op_name(enum fake_op op)
{
    return (unsigned)op < FAKE_OP_COUNT ? op_names[op] : "?";
}

struct fake_platform *fk_of(const struct hv *hv)
{
    return (struct fake_platform *)(uintptr_t)hv->platform;
}

/* ------------------------------------------------------------------ bookkeeping (lock held) */

void fk_violation(struct fake_platform *f, const char *fmt, ...)
{
    char msg[sizeof f->first_violation];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!f->violations++)
        memcpy(f->first_violation, msg, sizeof msg);
    fprintf(stderr, "platform_fake: violation: %s\n", msg);
}

void fk_record(struct fake_platform *f, const struct fake_call *c)
{
    if (f->ncalls == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 1024;
        struct fake_call *n = realloc(f->calls, cap * sizeof *n);
        if (!n)
            abort();
        f->calls = n;
        f->cap = cap;
    }
    f->calls[f->ncalls++] = *c;
}

/* An injected failure for the call c is making, consumed. */
bool fk_failing(struct fake_platform *f, enum fake_op op, struct fake_call *c)
{
    if (!f->fail[op].err || (f->fail[op].vm && f->fail[op].vm != c->vm) || --f->fail[op].countdown)
        return false;
    c->rc = -1;
    c->err = f->fail[op].err;
    f->fail[op].err = 0;
    return true;
}

int fk_finish(struct fake_platform *f, struct fake_call *c)
{
    fk_record(f, c);
    pthread_mutex_unlock(&f->lock);
    if (c->rc < 0)
        errno = c->err;
    return c->rc;
}

struct fvm *fk_vm_of(struct fake_platform *f, const struct vm *vm)
{
    if (vm->fd < 0 || vm->fd >= FAKE_MAX_VMS || !f->vms[vm->fd] || f->vms[vm->fd]->owner != vm)
        return NULL;
    return f->vms[vm->fd];
}

struct fvcpu *fk_vcpu_of(struct fake_platform *f, const struct vcpu *v)
{
    if (v->fd < 0 || v->fd >= FAKE_MAX_VCPUS || !f->vcpus[v->fd] || f->vcpus[v->fd]->owner != v)
        return NULL;
    return f->vcpus[v->fd];
}

bool fk_vm_running(struct fake_platform *f, int vm_handle)
{
    for (int i = 0; i < FAKE_MAX_VCPUS; i++)
        if (f->vcpus[i] && f->vcpus[i]->vm_handle == vm_handle && f->vcpus[i]->in_run)
            return true;
    return false;
}

/* Takes the lock and starts the record of a VM call; NULL (with the failure noted) if the VM
 * does not exist or the call is to fail. */
struct fvm *fk_vm_begin(struct fake_platform *f, struct vm *vm, enum fake_op op,
                        struct fake_call *c)
{
    pthread_mutex_lock(&f->lock);
    *c = (struct fake_call){.op = op, .vm = vm, .vcpu = -1};
    struct fvm *m = fk_vm_of(f, vm);
    if (!m) {
        fk_violation(f, "%s on VM %s, which does not exist", fake_op_name(op), vm->name);
        c->rc = -1;
        c->err = EBADF;
        return NULL;
    }
    return fk_failing(f, op, c) ? NULL : m;
}

/* The same for a vCPU call; state calls from another thread while the vCPU is in `run` are
 * violations: hv reads and writes a vCPU's state only while it is parked. */
struct fvcpu *fk_vcpu_begin(struct fake_platform *f, struct vcpu *v, enum fake_op op,
                            struct fake_call *c)
{
    pthread_mutex_lock(&f->lock);
    *c = (struct fake_call){.op = op, .vm = v->vm, .vcpu = (int)v->index};
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    if (!cpu) {
        fk_violation(f, "%s on vCPU %u of %s, which does not exist", fake_op_name(op), v->index,
                     v->vm->name);
        c->rc = -1;
        c->err = EBADF;
        return NULL;
    }
    if (cpu->in_run && !pthread_equal(cpu->runner, pthread_self()))
        fk_violation(f, "%s on vCPU %u of %s while its thread was in KVM_RUN", fake_op_name(op),
                     v->index, v->vm->name);
    return fk_failing(f, op, c) ? NULL : cpu;
}

/* ------------------------------------------------------------------ the test's side */

struct fake_platform *fake_new(const struct fake_host *host)
{
    struct fake_platform *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ops.name = "fake";
    fk_vm_ops(&f->ops);
    fk_vcpu_ops(&f->ops);
    f->host = host ? *host
                   : (struct fake_host){.irqchip = true,
                                        .readonly_mem = true,
                                        .xsave = true,
                                        .xcrs = true,
                                        .debugregs = true,
                                        .vcpu_events = true,
                                        .tsc_khz = FAKE_TSC_KHZ};
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cond, &a);
    pthread_condattr_destroy(&a);
    return f;
}

void fake_free(struct fake_platform *f)
{
    if (!f)
        return;
    for (int i = 0; i < FAKE_MAX_VCPUS; i++)
        if (f->vcpus[i]) {
            fk_free_steps(f->vcpus[i]);
            free(f->vcpus[i]->cpuid);
            free(f->vcpus[i]->run);
            free(f->vcpus[i]);
        }
    for (int i = 0; i < FAKE_MAX_VMS; i++)
        free(f->vms[i]);
    free(f->calls);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

const struct platform_ops *fake_ops(struct fake_platform *f)
{
    return &f->ops;
}

size_t fake_ncalls(struct fake_platform *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->ncalls;
    pthread_mutex_unlock(&f->lock);
    return n;
}

struct fake_call fake_call_at(struct fake_platform *f, size_t i)
{
    pthread_mutex_lock(&f->lock);
    struct fake_call c = i < f->ncalls ? f->calls[i] : (struct fake_call){.op = FAKE_OP_COUNT};
    pthread_mutex_unlock(&f->lock);
    return c;
}

static bool matches(const struct fake_call *c, enum fake_op op, const struct vm *vm, int vcpu)
{
    return c->op == op && (!vm || c->vm == vm) && (vcpu < 0 || c->vcpu == vcpu);
}

size_t fake_count(struct fake_platform *f, enum fake_op op, const struct vm *vm, int vcpu)
{
    pthread_mutex_lock(&f->lock);
    size_t n = 0;
    for (size_t i = 0; i < f->ncalls; i++)
        n += matches(&f->calls[i], op, vm, vcpu);
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t fake_find(struct fake_platform *f, enum fake_op op, const struct vm *vm, int vcpu,
                 size_t from)
{
    pthread_mutex_lock(&f->lock);
    size_t at = SIZE_MAX;
    for (size_t i = from; i < f->ncalls && at == SIZE_MAX; i++)
        if (matches(&f->calls[i], op, vm, vcpu))
            at = i;
    pthread_mutex_unlock(&f->lock);
    return at;
}

void fake_forget(struct fake_platform *f)
{
    pthread_mutex_lock(&f->lock);
    f->ncalls = 0;
    pthread_mutex_unlock(&f->lock);
}

int fake_slots(struct fake_platform *f, const struct vm *vm,
               struct kvm_userspace_memory_region *out, int max)
{
    pthread_mutex_lock(&f->lock);
    struct fvm *m = fk_vm_of(f, vm);
    int n = 0;
    for (uint32_t s = 0; m && s < FAKE_MAX_SLOTS; s++) {
        if (!m->used[s] || n == max)
            continue;
        int at = n++;
        while (at > 0 && out[at - 1].guest_phys_addr > m->slots[s].guest_phys_addr) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = m->slots[s];
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

struct kvm_regs fake_regs(struct fake_platform *f, const struct vcpu *v)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    struct kvm_regs r = cpu ? cpu->regs : (struct kvm_regs){0};
    pthread_mutex_unlock(&f->lock);
    return r;
}

struct kvm_sregs fake_sregs(struct fake_platform *f, const struct vcpu *v)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    struct kvm_sregs s = cpu ? cpu->sregs : (struct kvm_sregs){0};
    pthread_mutex_unlock(&f->lock);
    return s;
}

uint32_t fake_cpuid_ebx(struct fake_platform *f, const struct vcpu *v, uint32_t leaf)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    uint32_t ebx = 0;
    for (uint32_t i = 0; cpu && cpu->cpuid && i < cpu->cpuid->nent; i++)
        if (cpu->cpuid->entries[i].function == leaf)
            ebx = cpu->cpuid->entries[i].ebx;
    pthread_mutex_unlock(&f->lock);
    return ebx;
}

bool fake_irq_level(struct fake_platform *f, const struct vm *vm, uint32_t irq)
{
    pthread_mutex_lock(&f->lock);
    struct fvm *m = fk_vm_of(f, vm);
    bool level = m && irq < 32 && m->irq[irq];
    pthread_mutex_unlock(&f->lock);
    return level;
}

unsigned fake_violations(struct fake_platform *f)
{
    pthread_mutex_lock(&f->lock);
    unsigned n = f->violations;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const char *fake_first_violation(struct fake_platform *f)
{
    return f->first_violation; /* written once, under the lock, before the count is read */
}

void fake_clear_violations(struct fake_platform *f)
{
    pthread_mutex_lock(&f->lock);
    f->violations = 0;
    f->first_violation[0] = 0;
    pthread_mutex_unlock(&f->lock);
}
