/* platform_fake_vm.c: the fake's host and VMs: memslots, MSR filter, IRQs, irqchip, PIT, clock. */
#include "platform_fake_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const uint32_t fk_host_msrs[9] = {0x10,       0x174,      0x175,      0x176,     0x277,
                                  0xc0000081, 0xc0000082, 0xc0000084, 0xc0000102};

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
    struct fake_platform *f = fk_of(hv);
    struct kvm_host *k = &hv->kvm;
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_OPEN, .vcpu = -1};
    if (!fk_failing(f, FAKE_OPEN, &c)) {
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
        for (size_t i = 0; i < sizeof fk_host_msrs / sizeof fk_host_msrs[0]; i++)
            k->msrs[k->nmsrs++] = fk_host_msrs[i];
        if (!k->cpuid) {
            c.rc = -1;
            c.err = ENOMEM;
        }
    }
    if (c.rc < 0)
        snprintf(err, errlen, "fake host: %s", strerror(c.err));
    return fk_finish(f, &c);
}

static void host_close(struct hv *hv)
{
    struct fake_platform *f = fk_of(hv);
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_CLOSE, .vcpu = -1};
    free(hv->kvm.cpuid);
    hv->kvm.cpuid = NULL;
    fk_finish(f, &c);
}

static int create_vm(struct vm *vm, char *err, size_t errlen)
{
    struct fake_platform *f = fk_of(vm->hv);
    pthread_mutex_lock(&f->lock);
    struct fake_call c = {.op = FAKE_CREATE_VM, .vm = vm, .vcpu = -1};
    int h = 0;
    while (h < FAKE_MAX_VMS && f->vms[h])
        h++;
    if (!fk_failing(f, FAKE_CREATE_VM, &c)) {
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
    return fk_finish(f, &c);
}

static void destroy_vm(struct vm *vm)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = fk_vm_begin(f, vm, FAKE_DESTROY_VM, &c);
    if (m) {
        free(m);
        f->vms[vm->fd] = NULL;
    }
    fk_finish(f, &c);
}

static int get_tsc_khz(struct vm *vm)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    if (fk_vm_begin(f, vm, FAKE_GET_TSC_KHZ, &c))
        c.rc = (int)f->host.tsc_khz;
    return fk_finish(f, &c);
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
        fk_violation(f, "%s: slot %u maps 0x%llx+0x%llx outside the VM's RAM", vm->name, r->slot,
                     (unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size);
    return 0;
}

static int set_memslot(struct vm *vm, const struct kvm_userspace_memory_region *r)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = fk_vm_begin(f, vm, FAKE_SET_MEMSLOT, &c);
    c.u.slot = *r;
    if (!m)
        return fk_finish(f, &c);
    if (fk_vm_running(f, vm->fd))
        fk_violation(f, "%s: memslot %u changed while a vCPU was in KVM_RUN", vm->name, r->slot);
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
    return fk_finish(f, &c);
}

static int enable_cap(struct vm *vm, const struct kvm_enable_cap *cap)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = fk_vm_begin(f, vm, FAKE_ENABLE_CAP, &c);
    c.u.cap = *cap;
    if (m && cap->cap == KVM_CAP_X86_USER_SPACE_MSR)
        m->msr_exit_reasons = cap->args[0];
    else if (m) {
        c.rc = -1;
        c.err = EINVAL;
    }
    return fk_finish(f, &c);
}

static int set_msr_filter(struct vm *vm, const struct kvm_msr_filter *flt)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = fk_vm_begin(f, vm, FAKE_SET_MSR_FILTER, &c);
    c.u.filter.flags = flt->flags;
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES && flt->ranges[i].nmsrs; i++)
        c.u.filter.base[c.u.filter.nranges++] = flt->ranges[i].base;
    if (!m)
        return fk_finish(f, &c);
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        const struct kvm_msr_filter_range *r = &flt->ranges[i];
        if (r->nmsrs && (!r->flags || (r->nmsrs + 7) / 8 > FAKE_BITMAP_MAX || !r->bitmap)) {
            c.rc = -1;
            c.err = EINVAL;
            return fk_finish(f, &c);
        }
    }
    m->filter = *flt;
    for (uint32_t i = 0; i < KVM_MSR_FILTER_MAX_RANGES; i++) {
        struct kvm_msr_filter_range *r = &m->filter.ranges[i];
        if (r->nmsrs)
            memcpy(m->bitmaps[i], r->bitmap, (r->nmsrs + 7) / 8);
        r->bitmap = m->bitmaps[i];
    }
    return fk_finish(f, &c);
}

static int irq_line(struct vm *vm, const struct kvm_irq_level *irq)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = fk_vm_begin(f, vm, FAKE_IRQ_LINE, &c);
    c.u.irq = *irq;
    if (m && (!f->host.irqchip || irq->irq >= 32)) {
        c.rc = -1;
        c.err = ENXIO;
    } else if (m) {
        m->irq[irq->irq] = irq->level;
    }
    return fk_finish(f, &c);
}

/* The VM-wide state: no irqchip, no PIT without one (ENXIO, as KVM); setting it while a vCPU
 * of the VM is in `run` is a violation (hv writes it only with the vCPUs parked). */
static struct fvm *machine_begin(struct fake_platform *f, struct vm *vm, enum fake_op op,
                                 struct fake_call *c, bool set)
{
    struct fvm *m = fk_vm_begin(f, vm, op, c);
    if (m && !f->host.irqchip && op != FAKE_GET_CLOCK && op != FAKE_SET_CLOCK) {
        c->rc = -1;
        c->err = ENXIO;
        return NULL;
    }
    if (m && set && fk_vm_running(f, vm->fd))
        fk_violation(f, "%s on %s while a vCPU was in KVM_RUN", fake_op_name(op), vm->name);
    return m;
}

static int get_irqchip(struct vm *vm, struct kvm_irqchip *x)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_GET_IRQCHIP, &c, false);
    if (m && x->chip_id < 3)
        *x = m->chips[x->chip_id], x->chip_id = x->chip_id;
    else if (m)
        c.rc = -1, c.err = EINVAL;
    return fk_finish(f, &c);
}

static int set_irqchip(struct vm *vm, const struct kvm_irqchip *x)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_SET_IRQCHIP, &c, true);
    if (m && x->chip_id < 3)
        m->chips[x->chip_id] = *x;
    else if (m)
        c.rc = -1, c.err = EINVAL;
    return fk_finish(f, &c);
}

static int get_pit(struct vm *vm, struct kvm_pit_state2 *x)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_GET_PIT, &c, false);
    if (m)
        *x = m->pit;
    return fk_finish(f, &c);
}

static int set_pit(struct vm *vm, const struct kvm_pit_state2 *x)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_SET_PIT, &c, true);
    if (m)
        m->pit = *x;
    return fk_finish(f, &c);
}

static int get_clock(struct vm *vm, struct kvm_clock_data *x)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_GET_CLOCK, &c, false);
    if (m)
        *x = (struct kvm_clock_data){.clock = m->clock};
    return fk_finish(f, &c);
}

static int set_clock(struct vm *vm, const struct kvm_clock_data *x)
{
    struct fake_call c;
    struct fake_platform *f = fk_of(vm->hv);
    struct fvm *m = machine_begin(f, vm, FAKE_SET_CLOCK, &c, true);
    if (m)
        m->clock = x->clock;
    return fk_finish(f, &c);
}

#define OPS(name) o->get_##name = get_##name, o->set_##name = set_##name

void fk_vm_ops(struct platform_ops *o)
{
    o->open = host_open;
    o->close = host_close;
    o->create_vm = create_vm;
    o->destroy_vm = destroy_vm;
    o->get_tsc_khz = get_tsc_khz;
    o->set_memslot = set_memslot;
    o->enable_cap = enable_cap;
    o->set_msr_filter = set_msr_filter;
    o->irq_line = irq_line;
    OPS(irqchip);
    OPS(pit);
    OPS(clock);
}
