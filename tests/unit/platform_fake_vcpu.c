/* platform_fake_vcpu.c: the fake's vCPUs: `run` playing the test's script, kicks, state. */
#include "platform_fake_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ vCPUs */

/* The architectural reset state: where a vCPU starts, and where AMD leaves one after a
 * triple fault. */
static void reset_state(struct fvcpu *cpu, uint32_t index)
{
    cpu->regs = (struct kvm_regs){.rip = 0xfff0, .rflags = 2, .rdx = 0x600};
    struct kvm_segment seg = {.limit = 0xffff, .type = 3, .present = 1, .s = 1};
    cpu->sregs = (struct kvm_sregs){
        .cs = seg, .ds = seg, .es = seg, .fs = seg, .gs = seg, .ss = seg, .cr0 = 0x60000010};
    cpu->sregs.cs.selector = 0xf000;
    cpu->sregs.cs.base = 0xffff0000;
    cpu->sregs.cs.type = 11;
    cpu->mp.mp_state = index == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
}

static int create_vcpu(struct vcpu *v, char *err, size_t errlen)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvm *m = fk_vm_begin(f, v->vm, FAKE_CREATE_VCPU, &c);
    c.vcpu = (int)v->index;
    int h = 0;
    while (h < FAKE_MAX_VCPUS && f->vcpus[h])
        h++;
    struct fvcpu *cpu = m && h < FAKE_MAX_VCPUS ? calloc(1, sizeof *cpu) : NULL;
    if (cpu)
        cpu->run = calloc(1, FAKE_RUN_SIZE);
    if (m && (!cpu || !cpu->run)) {
        if (cpu)
            free(cpu);
        c.rc = -1;
        c.err = ENOMEM;
    } else if (m) {
        cpu->owner = v;
        cpu->vm_handle = v->vm->fd;
        reset_state(cpu, v->index);
        for (size_t i = 0; i < sizeof fk_host_msrs / sizeof fk_host_msrs[0]; i++)
            cpu->msrs[i].index = fk_host_msrs[i];
        f->vcpus[h] = cpu;
        v->fd = h;
        v->run = cpu->run;
    }
    if (c.rc < 0)
        snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", v->index, strerror(c.err));
    return fk_finish(f, &c);
}

void fk_free_steps(struct fvcpu *cpu)
{
    while (cpu->head) {
        struct step *s = cpu->head;
        cpu->head = s->next;
        free(s);
    }
    cpu->tail = NULL;
}

static void destroy_vcpu(struct vcpu *v)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvcpu *cpu = fk_vcpu_begin(f, v, FAKE_DESTROY_VCPU, &c);
    if (cpu && cpu->in_run) {
        /* Its thread still runs it: keep the memory (it is a bug either way) and say so. */
        fk_violation(f, "vCPU %u of %s destroyed while its thread was in KVM_RUN", v->index,
                     v->vm->name);
        cpu->owner = NULL;
    } else if (cpu) {
        fk_free_steps(cpu);
        free(cpu->cpuid);
        free(cpu->run);
        free(cpu);
        f->vcpus[v->fd] = NULL;
    }
    fk_finish(f, &c);
}

static int set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *cpuid)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvcpu *cpu = fk_vcpu_begin(f, v, FAKE_SET_CPUID, &c);
    if (cpu) {
        size_t size = sizeof *cpuid + cpuid->nent * sizeof cpuid->entries[0];
        free(cpu->cpuid);
        cpu->cpuid = malloc(size);
        if (cpu->cpuid)
            memcpy(cpu->cpuid, cpuid, size);
    }
    return fk_finish(f, &c);
}

static struct kvm_userspace_memory_region *slot_at(struct fvm *m, uint64_t gpa, uint32_t len)
{
    for (uint32_t s = 0; m && s < FAKE_MAX_SLOTS; s++)
        if (m->used[s] && gpa >= m->slots[s].guest_phys_addr &&
            gpa + len <= m->slots[s].guest_phys_addr + m->slots[s].memory_size)
            return &m->slots[s];
    return NULL;
}

/* Whether the VM's filter lets the access through (KVM_X86_SET_MSR_FILTER semantics). */
static bool msr_allowed(const struct fvm *m, uint32_t msr, bool write)
{
    uint32_t need = write ? KVM_MSR_FILTER_WRITE : KVM_MSR_FILTER_READ;
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        const struct kvm_msr_filter_range *r = &m->filter.ranges[i];
        if (r->nmsrs && (r->flags & need) && msr >= r->base && msr - r->base < r->nmsrs) {
            uint32_t bit = msr - r->base;
            return (m->bitmaps[i][bit / 8] >> (bit % 8)) & 1;
        }
    }
    return !(m->filter.flags & KVM_MSR_FILTER_DEFAULT_DENY);
}

static struct kvm_msr_entry *msr_entry(struct fvcpu *cpu, uint32_t index)
{
    for (size_t i = 0; i < FAKE_MAX_MSRS && cpu->msrs[i].index; i++)
        if (cpu->msrs[i].index == index)
            return &cpu->msrs[i];
    return NULL;
}

static void fill_exit(struct kvm_run *r, const struct kvm_run *e)
{
    size_t from = offsetof(struct kvm_run, hw), to = offsetof(struct kvm_run, kvm_valid_regs);
    r->exit_reason = e->exit_reason;
    r->ready_for_interrupt_injection = 1;
    memcpy((uint8_t *)r + from, (const uint8_t *)e + from, to - from);
}

/* Plays one step on the vCPU's thread; true when `run` returns with it (c filled in). */
static bool play(struct fake_platform *f, struct fvcpu *cpu, struct vcpu *v, const struct step *s,
                 struct fake_call *c)
{
    struct fvm *m = f->vms[cpu->vm_handle];
    struct kvm_run *r = v->run;
    switch (s->kind) {
    case STEP_REGS:
        cpu->regs = s->regs;
        return false;
    case STEP_RESET:
        reset_state(cpu, v->index);
        return false;
    case STEP_ERROR:
        c->rc = -1;
        c->err = s->err;
        return true;
    case STEP_STORE: {
        struct kvm_userspace_memory_region *slot = slot_at(m, s->gpa, s->exit.mmio.len);
        if (slot && !(slot->flags & KVM_MEM_READONLY)) {
            uint8_t *host = (uint8_t *)(uintptr_t)slot->userspace_addr;
            memcpy(host + (s->gpa - slot->guest_phys_addr), &s->value, s->exit.mmio.len);
            return false;
        }
        fill_exit(r, &s->exit); /* read-only or unbacked: KVM drops it and exits as MMIO */
        break;
    }
    case STEP_MSR: {
        bool allowed = !m || msr_allowed(m, s->msr, s->write);
        if (!allowed && m && (m->msr_exit_reasons & KVM_MSR_EXIT_REASON_FILTER)) {
            fill_exit(r, &s->exit);
            break;
        }
        struct kvm_msr_entry *e = msr_entry(cpu, s->msr);
        if (allowed && e && s->write)
            e->data = s->value;
        return false; /* denied without MSR exits: the guest takes #GP */
    }
    case STEP_EXIT:
        if (s->nbytes && s->gpa + s->nbytes <= v->vm->mem_size)
            memcpy(v->vm->mem + s->gpa, s->bytes, s->nbytes);
        fill_exit(r, &s->exit);
        if (s->exit.exit_reason == KVM_EXIT_IO) {
            r->io.data_offset = FAKE_IO_OFFSET;
            memcpy((uint8_t *)r + FAKE_IO_OFFSET, s->io, sizeof s->io);
        }
        break;
    }
    c->rc = 0;
    c->u.exit_reason = r->exit_reason;
    return true;
}

static int run(struct vcpu *v)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvcpu *cpu = fk_vcpu_begin(f, v, FAKE_RUN, &c);
    if (!cpu)
        return fk_finish(f, &c);
    cpu->in_run = true;
    cpu->runner = pthread_self();
    for (;;) {
        if (cpu->kicked || v->run->immediate_exit) {
            c.u.immediate_exit = v->run->immediate_exit;
            cpu->kicked = false;
            v->run->exit_reason = KVM_EXIT_INTR;
            c.rc = -1;
            c.err = EINTR;
            break;
        }
        struct step *s = cpu->head;
        if (!s) {
            cpu->idle = true;
            pthread_cond_broadcast(&f->cond);
            pthread_cond_wait(&f->cond, &f->lock);
            cpu->idle = false;
            continue;
        }
        cpu->head = s->next;
        if (!cpu->head)
            cpu->tail = NULL;
        bool done = play(f, cpu, v, s, &c);
        free(s);
        if (done)
            break;
    }
    cpu->in_run = false;
    pthread_cond_broadcast(&f->cond);
    return fk_finish(f, &c);
}

static void kick(struct vcpu *v)
{
    struct fake_platform *f = fk_of(v->vm->hv);
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_KICK, .vm = v->vm, .vcpu = (int)v->index};
    struct fvcpu *cpu = fk_vcpu_of(f, v);
    /* As with KVM's signal: nothing to interrupt before the thread exists. */
    if (cpu && v->thread_started) {
        cpu->kicked = true;
        pthread_cond_broadcast(&f->cond);
    }
    fk_finish(f, &c);
}

static int nmi(struct vcpu *v)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvcpu *cpu = fk_vcpu_begin(f, v, FAKE_NMI, &c);
    if (cpu)
        cpu->events.nmi.pending = 1;
    return fk_finish(f, &c);
}

/* KVM_KVMCLOCK_CTRL: EINVAL until the guest has turned kvm-clock on, which the fake's guests
 * never do; recorded all the same, since the call is what hv owes the guest. */
static int kvmclock_ctrl(struct vcpu *v)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    if (fk_vcpu_begin(f, v, FAKE_KVMCLOCK_CTRL, &c)) {
        c.rc = -1;
        c.err = EINVAL;
    }
    return fk_finish(f, &c);
}

/* get_msrs/set_msrs: like KVM, they stop at the first MSR the host does not have. */
static int msrs_io(struct vcpu *v, struct kvm_msrs *m, bool write, enum fake_op op)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvcpu *cpu = fk_vcpu_begin(f, v, op, &c);
    if (!cpu)
        return fk_finish(f, &c);
    uint32_t n = 0;
    for (; n < m->nmsrs; n++) {
        struct kvm_msr_entry *e = msr_entry(cpu, m->entries[n].index);
        if (!e)
            break;
        if (write)
            e->data = m->entries[n].data;
        else
            m->entries[n].data = e->data;
    }
    c.rc = (int)n;
    return fk_finish(f, &c);
}

static int get_msrs(struct vcpu *v, struct kvm_msrs *m)
{
    return msrs_io(v, m, false, FAKE_GET_MSRS);
}

static int set_msrs(struct vcpu *v, const struct kvm_msrs *m)
{
    return msrs_io(v, (struct kvm_msrs *)(uintptr_t)m, true, FAKE_SET_MSRS);
}

static int set_regs(struct vcpu *v, const struct kvm_regs *r)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(v->vm->hv);
    struct fvcpu *cpu = fk_vcpu_begin(f, v, FAKE_SET_REGS, &c);
    c.u.regs = *r;
    if (cpu)
        cpu->regs = *r;
    return fk_finish(f, &c);
}

/* The other state: stored and returned as it is. */
#define GET(name, type, field, OP)                                                                 \
    static int get_##name(struct vcpu *v, type *x)                                                 \
    {                                                                                              \
        struct fake_call c;                                                                        \
        struct fake_platform *f = fk_of(v->vm->hv);                                                \
        struct fvcpu *cpu = fk_vcpu_begin(f, v, OP, &c);                                           \
        if (cpu)                                                                                   \
            *x = cpu->field;                                                                       \
        return fk_finish(f, &c);                                                                   \
    }
#define SET(name, type, field, OP)                                                                 \
    static int set_##name(struct vcpu *v, const type *x)                                           \
    {                                                                                              \
        struct fake_call c;                                                                        \
        struct fake_platform *f = fk_of(v->vm->hv);                                                \
        struct fvcpu *cpu = fk_vcpu_begin(f, v, OP, &c);                                           \
        if (cpu)                                                                                   \
            cpu->field = *x;                                                                       \
        return fk_finish(f, &c);                                                                   \
    }
#define GETSET(name, type, field, GETOP, SETOP)                                                    \
    GET(name, type, field, GETOP)                                                                  \
    SET(name, type, field, SETOP)
GET(regs, struct kvm_regs, regs, FAKE_GET_REGS)
GETSET(sregs, struct kvm_sregs, sregs, FAKE_GET_SREGS, FAKE_SET_SREGS)
GETSET(fpu, struct kvm_fpu, fpu, FAKE_GET_FPU, FAKE_SET_FPU)
GETSET(xsave, struct kvm_xsave, xsave, FAKE_GET_XSAVE, FAKE_SET_XSAVE)
GETSET(xcrs, struct kvm_xcrs, xcrs, FAKE_GET_XCRS, FAKE_SET_XCRS)
GETSET(lapic, struct kvm_lapic_state, lapic, FAKE_GET_LAPIC, FAKE_SET_LAPIC)
GETSET(events, struct kvm_vcpu_events, events, FAKE_GET_EVENTS, FAKE_SET_EVENTS)
GETSET(mp_state, struct kvm_mp_state, mp, FAKE_GET_MP_STATE, FAKE_SET_MP_STATE)
GETSET(debugregs, struct kvm_debugregs, dregs, FAKE_GET_DEBUGREGS, FAKE_SET_DEBUGREGS)
SET(guest_debug, struct kvm_guest_debug, guest_debug, FAKE_SET_GUEST_DEBUG)

#define OPS(name) o->get_##name = get_##name, o->set_##name = set_##name

void fk_vcpu_ops(struct platform_ops *o)
{
    o->create_vcpu = create_vcpu;
    o->destroy_vcpu = destroy_vcpu;
    o->set_cpuid = set_cpuid;
    o->run = run;
    o->kick = kick;
    o->nmi = nmi;
    o->kvmclock_ctrl = kvmclock_ctrl;
    OPS(regs);
    OPS(sregs);
    OPS(fpu);
    OPS(xsave);
    OPS(xcrs);
    OPS(msrs);
    OPS(lapic);
    OPS(events);
    OPS(mp_state);
    OPS(debugregs);
    o->set_guest_debug = set_guest_debug;
}
