/* coredump_notes: the PT_NOTE payload (NT_PRSTATUS, QEMU CPU state, VMCOREINFO) from KVM state. */
#include "evidence/coredump_int.h"

#include <elf.h>
#include <string.h>

#define NOTE_CORE       "CORE"
#define NOTE_QEMU       "QEMU"
#define NOTE_VMCOREINFO "VMCOREINFO"

static size_t round4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

/* Bytes one note takes: header, name with its NUL, descriptor, each padded to 4 as in gABI. */
static size_t note_bytes(size_t namesz, size_t descsz)
{
    return sizeof(Elf64_Nhdr) + round4(namesz) + round4(descsz);
}

int coredump_notes_size(size_t nv, size_t vmcoreinfo_len, size_t *out)
{
    size_t per_cpu = note_bytes(sizeof(NOTE_CORE), sizeof(struct core_prstatus)) +
                     note_bytes(sizeof(NOTE_QEMU), sizeof(struct core_qemu_cpu));
    size_t total;

    if (__builtin_mul_overflow(nv, per_cpu, &total))
        return -1;
    if (vmcoreinfo_len != 0) {
        /* The descriptor size is a 32-bit field, and round4 must not wrap. */
        if (vmcoreinfo_len > COREDUMP_VMCOREINFO_MAX)
            return -1;
        if (__builtin_add_overflow(total, note_bytes(sizeof(NOTE_VMCOREINFO), vmcoreinfo_len),
                                   &total))
            return -1;
    }
    *out = total;
    return 0;
}

static uint8_t *put_note(uint8_t *p, const char *name, size_t namesz, uint32_t type,
                         const void *desc, size_t descsz)
{
    Elf64_Nhdr h = {.n_namesz = (uint32_t)namesz, .n_descsz = (uint32_t)descsz, .n_type = type};

    memcpy(p, &h, sizeof(h));
    p += sizeof(h);
    memset(p, 0, round4(namesz));
    memcpy(p, name, namesz);
    p += round4(namesz);
    memset(p, 0, round4(descsz));
    memcpy(p, desc, descsz);
    return p + round4(descsz);
}

static void fill_prstatus(struct core_prstatus *ps, const struct core_vcpu *c, size_t index)
{
    const struct kvm_regs *r = &c->regs;
    const struct kvm_sregs *s = &c->sregs;
    struct core_user_regs *g = &ps->reg;

    memset(ps, 0, sizeof(*ps));
    /* QEMU numbers CPUs from 1 so that crash and gdb never see a "pid 0" thread. */
    ps->pid = (int32_t)(index + 1);
    g->r15 = r->r15;
    g->r14 = r->r14;
    g->r13 = r->r13;
    g->r12 = r->r12;
    g->rbp = r->rbp;
    g->rbx = r->rbx;
    g->r11 = r->r11;
    g->r10 = r->r10;
    g->r9 = r->r9;
    g->r8 = r->r8;
    g->rax = r->rax;
    g->rcx = r->rcx;
    g->rdx = r->rdx;
    g->rsi = r->rsi;
    g->rdi = r->rdi;
    g->orig_rax = 0; /* as QEMU: a guest has no "interrupted system call" to restart */
    g->rip = r->rip;
    g->cs = s->cs.selector;
    g->eflags = r->rflags;
    g->rsp = r->rsp;
    g->ss = s->ss.selector;
    g->fs_base = s->fs.base;
    g->gs_base = s->gs.base;
    g->ds = s->ds.selector;
    g->es = s->es.selector;
    g->fs = s->fs.selector;
    g->gs = s->gs.selector;
}

/* KVM unpacks the descriptor attributes; QEMU's note keeps them packed as in the GDT entry. */
static struct core_qemu_seg seg_from_kvm(const struct kvm_segment *k)
{
    struct core_qemu_seg q = {.selector = k->selector, .limit = k->limit, .base = k->base};

    q.flags = (uint32_t)k->type << 8 | (uint32_t)(k->s & 1) << 12 | (uint32_t)(k->dpl & 3) << 13 |
              (uint32_t)(k->present && !k->unusable) << 15 | (uint32_t)(k->avl & 1) << 20 |
              (uint32_t)(k->l & 1) << 21 | (uint32_t)(k->db & 1) << 22 | (uint32_t)(k->g & 1) << 23;
    return q;
}

static struct core_qemu_seg seg_from_dtable(const struct kvm_dtable *d)
{
    struct core_qemu_seg q = {.limit = d->limit, .base = d->base};

    return q;
}

static void fill_qemu_cpu(struct core_qemu_cpu *q, const struct core_vcpu *c)
{
    const struct kvm_regs *r = &c->regs;
    const struct kvm_sregs *s = &c->sregs;

    memset(q, 0, sizeof(*q));
    q->version = CORE_QEMU_CPU_VERSION;
    q->size = sizeof(*q);
    q->rax = r->rax;
    q->rbx = r->rbx;
    q->rcx = r->rcx;
    q->rdx = r->rdx;
    q->rsi = r->rsi;
    q->rdi = r->rdi;
    q->rsp = r->rsp;
    q->rbp = r->rbp;
    q->r8 = r->r8;
    q->r9 = r->r9;
    q->r10 = r->r10;
    q->r11 = r->r11;
    q->r12 = r->r12;
    q->r13 = r->r13;
    q->r14 = r->r14;
    q->r15 = r->r15;
    q->rip = r->rip;
    q->rflags = r->rflags;
    q->cs = seg_from_kvm(&s->cs);
    q->ds = seg_from_kvm(&s->ds);
    q->es = seg_from_kvm(&s->es);
    q->fs = seg_from_kvm(&s->fs);
    q->gs = seg_from_kvm(&s->gs);
    q->ss = seg_from_kvm(&s->ss);
    q->ldt = seg_from_kvm(&s->ldt);
    q->tr = seg_from_kvm(&s->tr);
    q->gdt = seg_from_dtable(&s->gdt);
    q->idt = seg_from_dtable(&s->idt);
    /* cr[1] does not exist on x86 and stays 0, as in QEMU. */
    q->cr[0] = s->cr0;
    q->cr[2] = s->cr2;
    q->cr[3] = s->cr3;
    q->cr[4] = s->cr4;
    q->kernel_gs_base = c->kernel_gs_base;
}

void coredump_notes_fill(uint8_t *buf, const struct core_vcpu *v, size_t nv, const void *vmcoreinfo,
                         size_t vmcoreinfo_len)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < nv; i++) {
        struct core_prstatus ps;

        fill_prstatus(&ps, &v[i], i);
        p = put_note(p, NOTE_CORE, sizeof(NOTE_CORE), NT_PRSTATUS, &ps, sizeof(ps));
    }
    for (size_t i = 0; i < nv; i++) {
        struct core_qemu_cpu q;

        fill_qemu_cpu(&q, &v[i]);
        p = put_note(p, NOTE_QEMU, sizeof(NOTE_QEMU), 0, &q, sizeof(q));
    }
    if (vmcoreinfo_len != 0)
        put_note(p, NOTE_VMCOREINFO, sizeof(NOTE_VMCOREINFO), 0, vmcoreinfo, vmcoreinfo_len);
}
