/* platform_fake.c: the unit tests' platform backend: KVM's rules in memory, a script per vCPU. */
#include "platform_fake.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_MAX_VMS    32
#define FAKE_MAX_VCPUS  256
#define FAKE_MAX_SLOTS  64
#define FAKE_RUN_SIZE   8192 /* struct kvm_run, then the page port I/O data goes in, as in KVM */
#define FAKE_IO_OFFSET  4096
#define FAKE_MAX_MSRS   32
#define FAKE_BITMAP_MAX KVM_MSR_FILTER_MAX_BITMAP_SIZE
#define FAKE_PAGE       4096ull
#define FAKE_TSC_KHZ    2500000u

/* The MSRs the fake host reports (a subset of what platform_kvm.c asks for). */
static const uint32_t host_msrs[] = {0x10,       0x174,      0x175,      0x176,     0x277,
                                     0xc0000081, 0xc0000082, 0xc0000084, 0xc0000102};

enum step_kind { STEP_EXIT, STEP_REGS, STEP_RESET, STEP_STORE, STEP_MSR, STEP_ERROR };

struct step {
    struct step *next;
    enum step_kind kind;
    struct kvm_run exit; /* STEP_EXIT: exit_reason and its member of the union */
    uint8_t io[8];       /* STEP_EXIT, KVM_EXIT_IO: the data */
    uint64_t gpa;        /* STEP_STORE: where; STEP_EXIT: where `bytes` land first */
    uint8_t bytes[256];
    size_t nbytes;
    struct kvm_regs regs; /* STEP_REGS */
    uint32_t msr;         /* STEP_MSR */
    bool write;
    uint64_t value; /* STEP_STORE, STEP_MSR */
    int err;        /* STEP_ERROR */
};

struct fvcpu {
    const struct vcpu *owner;
    int vm_handle;
    struct kvm_run *run;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_debugregs dregs;
    struct kvm_guest_debug guest_debug;
    struct kvm_msr_entry msrs[FAKE_MAX_MSRS];
    struct kvm_cpuid2 *cpuid;
    struct step *head, *tail;
    bool kicked; /* remembered until the next run returns EINTR */
    bool in_run, idle;
    pthread_t runner;
};

struct fvm {
    const struct vm *owner;
    struct kvm_userspace_memory_region slots[FAKE_MAX_SLOTS];
    bool used[FAKE_MAX_SLOTS];
    uint64_t msr_exit_reasons; /* KVM_CAP_X86_USER_SPACE_MSR */
    struct kvm_msr_filter filter;
    uint8_t bitmaps[KVM_MSR_FILTER_MAX_RANGES][FAKE_BITMAP_MAX];
    bool irq[32];
    /* KVM_GET/SET_IRQCHIP, _PIT2, _CLOCK: kept as set (the chips by chip_id). */
    struct kvm_irqchip chips[3];
    struct kvm_pit_state2 pit;
    uint64_t clock;
};

struct fake_platform {
    struct platform_ops ops; /* first: hv->platform points here, and so at the whole */
    struct fake_host host;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* any change: a step queued, a kick, a vCPU going idle */
    struct fvm *vms[FAKE_MAX_VMS];
    struct fvcpu *vcpus[FAKE_MAX_VCPUS];
    struct fake_call *calls;
    size_t ncalls, cap;
    struct {
        int err;
        const struct vm *vm; /* NULL: any */
        unsigned countdown;  /* matching calls until the one that fails */
    } fail[FAKE_OP_COUNT];
    unsigned violations;
    char first_violation[256];
};

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

static struct fake_platform *of(const struct hv *hv)
{
    return (struct fake_platform *)(uintptr_t)hv->platform;
}

/* ------------------------------------------------------------------ bookkeeping (lock held) */

static void violation(struct fake_platform *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(struct fake_platform *f, const char *fmt, ...)
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

static void record(struct fake_platform *f, const struct fake_call *c)
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
static bool failing(struct fake_platform *f, enum fake_op op, struct fake_call *c)
{
    if (!f->fail[op].err || (f->fail[op].vm && f->fail[op].vm != c->vm) || --f->fail[op].countdown)
        return false;
    c->rc = -1;
    c->err = f->fail[op].err;
    f->fail[op].err = 0;
    return true;
}

static int finish(struct fake_platform *f, struct fake_call *c)
{
    record(f, c);
    pthread_mutex_unlock(&f->lock);
    if (c->rc < 0)
        errno = c->err;
    return c->rc;
}

static struct fvm *vm_of(struct fake_platform *f, const struct vm *vm)
{
    if (vm->fd < 0 || vm->fd >= FAKE_MAX_VMS || !f->vms[vm->fd] || f->vms[vm->fd]->owner != vm)
        return NULL;
    return f->vms[vm->fd];
}

static struct fvcpu *vcpu_of(struct fake_platform *f, const struct vcpu *v)
{
    if (v->fd < 0 || v->fd >= FAKE_MAX_VCPUS || !f->vcpus[v->fd] || f->vcpus[v->fd]->owner != v)
        return NULL;
    return f->vcpus[v->fd];
}

static bool vm_running(struct fake_platform *f, int vm_handle)
{
    for (int i = 0; i < FAKE_MAX_VCPUS; i++)
        if (f->vcpus[i] && f->vcpus[i]->vm_handle == vm_handle && f->vcpus[i]->in_run)
            return true;
    return false;
}

/* Takes the lock and starts the record of a VM call; NULL (with the failure noted) if the VM
 * does not exist or the call is to fail. */
static struct fvm *vm_begin(struct fake_platform *f, struct vm *vm, enum fake_op op,
                            struct fake_call *c)
{
    pthread_mutex_lock(&f->lock);
    *c = (struct fake_call){.op = op, .vm = vm, .vcpu = -1};
    struct fvm *m = vm_of(f, vm);
    if (!m) {
        violation(f, "%s on VM %s, which does not exist", fake_op_name(op), vm->name);
        c->rc = -1;
        c->err = EBADF;
        return NULL;
    }
    return failing(f, op, c) ? NULL : m;
}

/* The same for a vCPU call; state calls from another thread while the vCPU is in `run` are
 * violations: hv reads and writes a vCPU's state only while it is parked. */
static struct fvcpu *vcpu_begin(struct fake_platform *f, struct vcpu *v, enum fake_op op,
                                struct fake_call *c)
{
    pthread_mutex_lock(&f->lock);
    *c = (struct fake_call){.op = op, .vm = v->vm, .vcpu = (int)v->index};
    struct fvcpu *cpu = vcpu_of(f, v);
    if (!cpu) {
        violation(f, "%s on vCPU %u of %s, which does not exist", fake_op_name(op), v->index,
                  v->vm->name);
        c->rc = -1;
        c->err = EBADF;
        return NULL;
    }
    if (cpu->in_run && !pthread_equal(cpu->runner, pthread_self()))
        violation(f, "%s on vCPU %u of %s while its thread was in KVM_RUN", fake_op_name(op),
                  v->index, v->vm->name);
    return failing(f, op, c) ? NULL : cpu;
}

/* ------------------------------------------------------------------ host and VM */

static struct kvm_cpuid2 *make_cpuid(const struct fake_host *h)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + 4 * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return NULL;
    c->nent = 4;
    c->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xd};
    c->entries[1] = (struct kvm_cpuid_entry2){.function = 1, .ecx = h->xsave ? 1u << 26 : 0};
    c->entries[2] = (struct kvm_cpuid_entry2){.function = 7, .ebx = 1}; /* FSGSBASE */
    c->entries[3] = (struct kvm_cpuid_entry2){.function = 0xd, .eax = h->xsave ? 7 : 0};
    return c;
}

static int host_open(struct hv *hv, char *err, size_t errlen)
{
    struct fake_platform *f = of(hv);
    struct kvm_host *k = &hv->kvm;
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_OPEN, .vcpu = -1};
    if (!failing(f, FAKE_OPEN, &c)) {
        memset(k, 0, sizeof *k);
        k->fd = -1;
        k->run_size = FAKE_RUN_SIZE;
        k->cap_xsave = f->host.xsave;
        k->cap_xcrs = f->host.xcrs;
        k->cap_debugregs = f->host.debugregs;
        k->cap_irqchip = f->host.irqchip;
        k->cap_readonly_mem = f->host.readonly_mem;
        k->cap_vcpu_events = f->host.vcpu_events;
        k->cpuid = make_cpuid(&f->host);
        for (size_t i = 0; i < sizeof host_msrs / sizeof host_msrs[0]; i++)
            k->msrs[k->nmsrs++] = host_msrs[i];
        if (!k->cpuid) {
            c.rc = -1;
            c.err = ENOMEM;
        }
    }
    if (c.rc < 0)
        snprintf(err, errlen, "fake host: %s", strerror(c.err));
    return finish(f, &c);
}

static void host_close(struct hv *hv)
{
    struct fake_platform *f = of(hv);
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_CLOSE, .vcpu = -1};
    free(hv->kvm.cpuid);
    hv->kvm.cpuid = NULL;
    finish(f, &c);
}

static int create_vm(struct vm *vm, char *err, size_t errlen)
{
    struct fake_platform *f = of(vm->hv);
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_CREATE_VM, .vm = vm, .vcpu = -1};
    int h = 0;
    while (h < FAKE_MAX_VMS && f->vms[h])
        h++;
    if (!failing(f, FAKE_CREATE_VM, &c)) {
        struct fvm *m = h < FAKE_MAX_VMS ? calloc(1, sizeof *m) : NULL;
        if (!m) {
            c.rc = -1;
            c.err = ENOMEM;
        } else {
            f->vms[h] = m;
            f->vms[h]->owner = vm;
            vm->fd = h;
            vm->irqchip = f->host.irqchip;
        }
    }
    if (c.rc < 0)
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(c.err));
    return finish(f, &c);
}

static void destroy_vm(struct vm *vm)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = vm_begin(f, vm, FAKE_DESTROY_VM, &c);
    if (m) {
        free(m);
        f->vms[vm->fd] = NULL;
    }
    finish(f, &c);
}

static int get_tsc_khz(struct vm *vm)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    if (vm_begin(f, vm, FAKE_GET_TSC_KHZ, &c))
        c.rc = (int)f->host.tsc_khz;
    return finish(f, &c);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* KVM_SET_USER_MEMORY_REGION's rules, as far as hv can break them. */
static int check_slot(struct fake_platform *f, struct fvm *m, const struct vm *vm,
                      const struct kvm_userspace_memory_region *r)
{
    if (r->slot >= FAKE_MAX_SLOTS || (r->flags & ~(uint32_t)KVM_MEM_READONLY) ||
        ((r->flags & KVM_MEM_READONLY) && !f->host.readonly_mem))
        return EINVAL;
    if ((r->guest_phys_addr | r->memory_size | r->userspace_addr) & (FAKE_PAGE - 1))
        return EINVAL;
    if (!r->memory_size) /* deleting: only a slot that exists */
        return m->used[r->slot] ? 0 : EINVAL;
    const struct kvm_userspace_memory_region *old = m->used[r->slot] ? &m->slots[r->slot] : NULL;
    if (old && (old->memory_size != r->memory_size || old->flags != r->flags ||
                old->userspace_addr != r->userspace_addr))
        return EINVAL; /* slots cannot be resized, remapped or made read-only in place */
    for (uint32_t s = 0; s < FAKE_MAX_SLOTS; s++)
        if (m->used[s] && s != r->slot &&
            overlaps(m->slots[s].guest_phys_addr, m->slots[s].memory_size, r->guest_phys_addr,
                     r->memory_size))
            return EEXIST;
    /* hv's own rule: a slot maps the VM's RAM at its guest-physical address, nothing else. */
    uintptr_t base = (uintptr_t)vm->mem;
    if (!vm->mem || r->userspace_addr != base + r->guest_phys_addr ||
        r->guest_phys_addr + r->memory_size > vm->mem_size)
        violation(f, "%s: slot %u maps 0x%llx+0x%llx outside the VM's RAM", vm->name, r->slot,
                  (unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size);
    return 0;
}

static int set_memslot(struct vm *vm, const struct kvm_userspace_memory_region *r)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = vm_begin(f, vm, FAKE_SET_MEMSLOT, &c);
    c.u.slot = *r;
    if (!m)
        return finish(f, &c);
    if (vm_running(f, vm->fd))
        violation(f, "%s: memslot %u changed while a vCPU was in KVM_RUN", vm->name, r->slot);
    int e = check_slot(f, m, vm, r);
    if (e) {
        c.rc = -1;
        c.err = e;
    } else if (!r->memory_size) {
        m->used[r->slot] = false;
    } else {
        m->slots[r->slot] = *r;
        m->used[r->slot] = true;
    }
    return finish(f, &c);
}

static int enable_cap(struct vm *vm, const struct kvm_enable_cap *cap)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = vm_begin(f, vm, FAKE_ENABLE_CAP, &c);
    c.u.cap = *cap;
    if (m && cap->cap == KVM_CAP_X86_USER_SPACE_MSR)
        m->msr_exit_reasons = cap->args[0];
    else if (m) {
        c.rc = -1;
        c.err = EINVAL;
    }
    return finish(f, &c);
}

static int set_msr_filter(struct vm *vm, const struct kvm_msr_filter *flt)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = vm_begin(f, vm, FAKE_SET_MSR_FILTER, &c);
    c.u.filter.flags = flt->flags;
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES && flt->ranges[i].nmsrs; i++)
        c.u.filter.base[c.u.filter.nranges++] = flt->ranges[i].base;
    if (!m)
        return finish(f, &c);
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        const struct kvm_msr_filter_range *r = &flt->ranges[i];
        if (r->nmsrs && (!r->flags || (r->nmsrs + 7) / 8 > FAKE_BITMAP_MAX || !r->bitmap)) {
            c.rc = -1;
            c.err = EINVAL;
            return finish(f, &c);
        }
    }
    m->filter = *flt;
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        struct kvm_msr_filter_range *r = &m->filter.ranges[i];
        if (r->nmsrs)
            memcpy(m->bitmaps[i], r->bitmap, (r->nmsrs + 7) / 8);
        r->bitmap = m->bitmaps[i];
    }
    return finish(f, &c);
}

static int irq_line(struct vm *vm, const struct kvm_irq_level *irq)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = vm_begin(f, vm, FAKE_IRQ_LINE, &c);
    c.u.irq = *irq;
    if (m && (!f->host.irqchip || irq->irq >= 32)) {
        c.rc = -1;
        c.err = ENXIO;
    } else if (m) {
        m->irq[irq->irq] = irq->level;
    }
    return finish(f, &c);
}

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
    struct fake_platform *f = of(v->vm->hv);
    struct fvm *m = vm_begin(f, v->vm, FAKE_CREATE_VCPU, &c);
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
        for (size_t i = 0; i < sizeof host_msrs / sizeof host_msrs[0]; i++)
            cpu->msrs[i].index = host_msrs[i];
        f->vcpus[h] = cpu;
        v->fd = h;
        v->run = cpu->run;
    }
    if (c.rc < 0)
        snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", v->index, strerror(c.err));
    return finish(f, &c);
}

static void free_steps(struct fvcpu *cpu)
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
    struct fake_platform *f = of(v->vm->hv);
    struct fvcpu *cpu = vcpu_begin(f, v, FAKE_DESTROY_VCPU, &c);
    if (cpu && cpu->in_run) {
        /* Its thread still runs it: keep the memory (it is a bug either way) and say so. */
        violation(f, "vCPU %u of %s destroyed while its thread was in KVM_RUN", v->index,
                  v->vm->name);
        cpu->owner = NULL;
    } else if (cpu) {
        free_steps(cpu);
        free(cpu->cpuid);
        free(cpu->run);
        free(cpu);
        f->vcpus[v->fd] = NULL;
    }
    finish(f, &c);
}

static int set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *cpuid)
{
    struct fake_call c;
    struct fake_platform *f = of(v->vm->hv);
    struct fvcpu *cpu = vcpu_begin(f, v, FAKE_SET_CPUID, &c);
    if (cpu) {
        size_t size = sizeof *cpuid + cpuid->nent * sizeof cpuid->entries[0];
        free(cpu->cpuid);
        cpu->cpuid = malloc(size);
        if (cpu->cpuid)
            memcpy(cpu->cpuid, cpuid, size);
    }
    return finish(f, &c);
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
    struct fake_platform *f = of(v->vm->hv);
    struct fvcpu *cpu = vcpu_begin(f, v, FAKE_RUN, &c);
    if (!cpu)
        return finish(f, &c);
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
    return finish(f, &c);
}

static void kick(struct vcpu *v)
{
    struct fake_platform *f = of(v->vm->hv);
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_KICK, .vm = v->vm, .vcpu = (int)v->index};
    struct fvcpu *cpu = vcpu_of(f, v);
    /* As with KVM's signal: nothing to interrupt before the thread exists. */
    if (cpu && v->thread_started) {
        cpu->kicked = true;
        pthread_cond_broadcast(&f->cond);
    }
    finish(f, &c);
}

static int nmi(struct vcpu *v)
{
    struct fake_call c;
    struct fake_platform *f = of(v->vm->hv);
    struct fvcpu *cpu = vcpu_begin(f, v, FAKE_NMI, &c);
    if (cpu)
        cpu->events.nmi.pending = 1;
    return finish(f, &c);
}

/* KVM_KVMCLOCK_CTRL: EINVAL until the guest has turned kvm-clock on, which the fake's guests
 * never do; recorded all the same, since the call is what hv owes the guest. */
static int kvmclock_ctrl(struct vcpu *v)
{
    struct fake_call c;
    struct fake_platform *f = of(v->vm->hv);
    if (vcpu_begin(f, v, FAKE_KVMCLOCK_CTRL, &c)) {
        c.rc = -1;
        c.err = EINVAL;
    }
    return finish(f, &c);
}

/* The VM-wide state: no irqchip, no PIT without one (ENXIO, as KVM); setting it while a vCPU
 * of the VM is in `run` is a violation (hv writes it only with the vCPUs parked). */
static struct fvm *machine_begin(struct fake_platform *f, struct vm *vm, enum fake_op op,
                                 struct fake_call *c, bool set)
{
    struct fvm *m = vm_begin(f, vm, op, c);
    if (m && !f->host.irqchip && op != FAKE_GET_CLOCK && op != FAKE_SET_CLOCK) {
        c->rc = -1;
        c->err = ENXIO;
        return NULL;
    }
    if (m && set && vm_running(f, vm->fd))
        violation(f, "%s on %s while a vCPU was in KVM_RUN", fake_op_name(op), vm->name);
    return m;
}

static int get_irqchip(struct vm *vm, struct kvm_irqchip *x)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_GET_IRQCHIP, &c, false);
    if (m && x->chip_id < 3)
        *x = m->chips[x->chip_id], x->chip_id = x->chip_id;
    else if (m)
        c.rc = -1, c.err = EINVAL;
    return finish(f, &c);
}

static int set_irqchip(struct vm *vm, const struct kvm_irqchip *x)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_SET_IRQCHIP, &c, true);
    if (m && x->chip_id < 3)
        m->chips[x->chip_id] = *x;
    else if (m)
        c.rc = -1, c.err = EINVAL;
    return finish(f, &c);
}

static int get_pit(struct vm *vm, struct kvm_pit_state2 *x)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_GET_PIT, &c, false);
    if (m)
        *x = m->pit;
    return finish(f, &c);
}

static int set_pit(struct vm *vm, const struct kvm_pit_state2 *x)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_SET_PIT, &c, true);
    if (m)
        m->pit = *x;
    return finish(f, &c);
}

static int get_clock(struct vm *vm, struct kvm_clock_data *x)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_GET_CLOCK, &c, false);
    if (m)
        *x = (struct kvm_clock_data){.clock = m->clock};
    return finish(f, &c);
}

static int set_clock(struct vm *vm, const struct kvm_clock_data *x)
{
    struct fake_call c;
    struct fake_platform *f = of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_SET_CLOCK, &c, true);
    if (m)
        m->clock = x->clock;
    return finish(f, &c);
}

/* get_msrs/set_msrs: like KVM, they stop at the first MSR the host does not have. */
static int msrs_io(struct vcpu *v, struct kvm_msrs *m, bool write, enum fake_op op)
{
    struct fake_call c;
    struct fake_platform *f = of(v->vm->hv);
    struct fvcpu *cpu = vcpu_begin(f, v, op, &c);
    if (!cpu)
        return finish(f, &c);
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
    return finish(f, &c);
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
    struct fake_platform *f = of(v->vm->hv);
    struct fvcpu *cpu = vcpu_begin(f, v, FAKE_SET_REGS, &c);
    c.u.regs = *r;
    if (cpu)
        cpu->regs = *r;
    return finish(f, &c);
}

/* The other state: stored and returned as it is. */
#define GET(name, type, field, OP)                                                                 \
    static int get_##name(struct vcpu *v, type *x)                                                 \
    {                                                                                              \
        struct fake_call c;                                                                        \
        struct fake_platform *f = of(v->vm->hv);                                                   \
        struct fvcpu *cpu = vcpu_begin(f, v, OP, &c);                                              \
        if (cpu)                                                                                   \
            *x = cpu->field;                                                                       \
        return finish(f, &c);                                                                      \
    }
#define SET(name, type, field, OP)                                                                 \
    static int set_##name(struct vcpu *v, const type *x)                                           \
    {                                                                                              \
        struct fake_call c;                                                                        \
        struct fake_platform *f = of(v->vm->hv);                                                   \
        struct fvcpu *cpu = vcpu_begin(f, v, OP, &c);                                              \
        if (cpu)                                                                                   \
            cpu->field = *x;                                                                       \
        return finish(f, &c);                                                                      \
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

#define OPS(name) .get_##name = get_##name, .set_##name = set_##name

static const struct platform_ops fake_platform_ops = {
    .name = "fake",
    .open = host_open,
    .close = host_close,
    .create_vm = create_vm,
    .destroy_vm = destroy_vm,
    .get_tsc_khz = get_tsc_khz,
    .set_memslot = set_memslot,
    .enable_cap = enable_cap,
    .set_msr_filter = set_msr_filter,
    .irq_line = irq_line,
    .create_vcpu = create_vcpu,
    .destroy_vcpu = destroy_vcpu,
    .set_cpuid = set_cpuid,
    .run = run,
    .kick = kick,
    .nmi = nmi,
    .kvmclock_ctrl = kvmclock_ctrl,
    OPS(irqchip),
    OPS(pit),
    OPS(clock),
    OPS(regs),
    OPS(sregs),
    OPS(fpu),
    OPS(xsave),
    OPS(xcrs),
    OPS(msrs),
    OPS(lapic),
    OPS(events),
    OPS(mp_state),
    OPS(debugregs),
    .set_guest_debug = set_guest_debug,
};

/* ------------------------------------------------------------------ the test's side */

struct fake_platform *fake_new(const struct fake_host *host)
{
    struct fake_platform *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ops = fake_platform_ops;
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
            free_steps(f->vcpus[i]);
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

static void queue(struct fake_platform *f, const struct vcpu *v, struct step *s)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = vcpu_of(f, v);
    if (!cpu) {
        pthread_mutex_unlock(&f->lock);
        fprintf(stderr, "platform_fake: a step for vCPU %u of %s, which does not exist\n", v->index,
                v->vm->name);
        abort();
    }
    if (cpu->tail)
        cpu->tail->next = s;
    else
        cpu->head = s;
    cpu->tail = s;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

static struct step *new_step(enum step_kind kind)
{
    struct step *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->kind = kind;
    return s;
}

void fake_exit(struct fake_platform *f, const struct vcpu *v, uint32_t reason)
{
    struct step *s = new_step(STEP_EXIT);
    s->exit.exit_reason = reason;
    queue(f, v, s);
}

void fake_exit_io(struct fake_platform *f, const struct vcpu *v, uint16_t port, uint8_t direction,
                  uint8_t size, uint32_t value)
{
    struct step *s = new_step(STEP_EXIT);
    s->exit.exit_reason = KVM_EXIT_IO;
    s->exit.io.direction = direction;
    s->exit.io.size = size;
    s->exit.io.port = port;
    s->exit.io.count = 1;
    memcpy(s->io, &value, sizeof value);
    queue(f, v, s);
}

void fake_exit_mmio(struct fake_platform *f, const struct vcpu *v, uint64_t gpa, bool is_write,
                    uint32_t len, uint64_t value)
{
    struct step *s = new_step(STEP_EXIT);
    s->exit.exit_reason = KVM_EXIT_MMIO;
    s->exit.mmio.phys_addr = gpa;
    s->exit.mmio.len = len;
    s->exit.mmio.is_write = is_write;
    memcpy(s->exit.mmio.data, &value, sizeof value);
    queue(f, v, s);
}

void fake_hypercall(struct fake_platform *f, const struct vcpu *v, unsigned nr, uint32_t gpa,
                    const void *arg, size_t len)
{
    struct step *s = new_step(STEP_EXIT);
    if (len > sizeof s->bytes)
        abort();
    s->exit.exit_reason = KVM_EXIT_IO;
    s->exit.io.direction = KVM_EXIT_IO_OUT;
    s->exit.io.size = 4;
    s->exit.io.port = (uint16_t)(VIGIL_HC_PORT_BASE + nr);
    s->exit.io.count = 1;
    memcpy(s->io, &gpa, sizeof gpa);
    s->gpa = gpa;
    memcpy(s->bytes, arg, len);
    s->nbytes = len;
    queue(f, v, s);
}

void fake_guest_regs(struct fake_platform *f, const struct vcpu *v, const struct kvm_regs *r)
{
    struct step *s = new_step(STEP_REGS);
    s->regs = *r;
    queue(f, v, s);
}

void fake_guest_reset(struct fake_platform *f, const struct vcpu *v)
{
    queue(f, v, new_step(STEP_RESET));
}

void fake_guest_store(struct fake_platform *f, const struct vcpu *v, uint64_t gpa, uint64_t value,
                      uint32_t len)
{
    struct step *s = new_step(STEP_STORE);
    if (len > sizeof value)
        abort();
    s->gpa = gpa;
    s->value = value;
    s->exit.exit_reason = KVM_EXIT_MMIO;
    s->exit.mmio.phys_addr = gpa;
    s->exit.mmio.len = len;
    s->exit.mmio.is_write = 1;
    memcpy(s->exit.mmio.data, &value, sizeof value);
    queue(f, v, s);
}

void fake_guest_msr(struct fake_platform *f, const struct vcpu *v, uint32_t msr, bool write,
                    uint64_t value)
{
    struct step *s = new_step(STEP_MSR);
    s->msr = msr;
    s->write = write;
    s->value = value;
    s->exit.exit_reason = write ? KVM_EXIT_X86_WRMSR : KVM_EXIT_X86_RDMSR;
    s->exit.msr.index = msr;
    s->exit.msr.data = write ? value : 0;
    s->exit.msr.reason = KVM_MSR_EXIT_REASON_FILTER;
    queue(f, v, s);
}

void fake_run_error(struct fake_platform *f, const struct vcpu *v, int err)
{
    struct step *s = new_step(STEP_ERROR);
    s->err = err;
    queue(f, v, s);
}

bool fake_wait_idle(struct fake_platform *f, const struct vcpu *v, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->lock);
    bool idle = false;
    for (;;) {
        struct fvcpu *cpu = vcpu_of(f, v);
        idle = cpu && cpu->idle && !cpu->head;
        if (idle || pthread_cond_timedwait(&f->cond, &f->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (!idle) {
        struct fvcpu *cpu = vcpu_of(f, v);
        idle = cpu && cpu->idle && !cpu->head;
    }
    pthread_mutex_unlock(&f->lock);
    return idle;
}

bool fake_in_run(struct fake_platform *f, const struct vcpu *v)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = vcpu_of(f, v);
    bool in = cpu && cpu->in_run;
    pthread_mutex_unlock(&f->lock);
    return in;
}

void fake_fail_at(struct fake_platform *f, enum fake_op op, const struct vm *vm, unsigned nth,
                  int err)
{
    pthread_mutex_lock(&f->lock);
    f->fail[op].err = err;
    f->fail[op].vm = vm;
    f->fail[op].countdown = nth ? nth : 1;
    pthread_mutex_unlock(&f->lock);
}

void fake_fail(struct fake_platform *f, enum fake_op op, int err)
{
    fake_fail_at(f, op, NULL, 1, err);
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
    struct fvm *m = vm_of(f, vm);
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
    struct fvcpu *cpu = vcpu_of(f, v);
    struct kvm_regs r = cpu ? cpu->regs : (struct kvm_regs){0};
    pthread_mutex_unlock(&f->lock);
    return r;
}

struct kvm_sregs fake_sregs(struct fake_platform *f, const struct vcpu *v)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = vcpu_of(f, v);
    struct kvm_sregs s = cpu ? cpu->sregs : (struct kvm_sregs){0};
    pthread_mutex_unlock(&f->lock);
    return s;
}

uint32_t fake_cpuid_ebx(struct fake_platform *f, const struct vcpu *v, uint32_t leaf)
{
    pthread_mutex_lock(&f->lock);
    struct fvcpu *cpu = vcpu_of(f, v);
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
    struct fvm *m = vm_of(f, vm);
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
