/* gdbstub_target.c: the GDB stub's target: a stopped VM's registers and memory, and resuming it
 * with KVM_SET_GUEST_DEBUG armed for steps and breakpoints. */
#include "base/log.h"
#include "supervisor/gdbstub_int.h"
#include "supervisor/switch.h"
#include "vmm/platform.h"
#include "vmm/vm.h"
#include "x86/pagewalk.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DR7_RESERVED_1 (1ull << 10) /* reads as 1 */
#define INT3_OPCODE    0xcc

bool gdbstub_vm_stopped(struct vm *vm)
{
    enum vm_state s = vm_get_state(vm);
    return s == VM_PAUSED || s == VM_FROZEN || s == VM_HALTED || s == VM_CRASHED;
}

/* The vCPU of `thread`, parked with its state captured, or NULL.  Caller holds switch_lock, so
 * nothing resumes, resets or frees the VM meanwhile. */
static struct vcpu *held_vcpu(struct gdbstub *g, int thread)
{
    struct vm *vm = g->vm;
    char why[200];
    if (thread < 1 || (uint32_t)thread > vm->nvcpus || !vm->mem || !gdbstub_vm_stopped(vm) ||
        vm_wait_captured(vm, why, sizeof why) < 0)
        return NULL;
    struct vcpu *v = &vm->vcpus[thread - 1];
    pthread_mutex_lock(&vm->lock);
    bool ok = v->parked && v->state_valid;
    pthread_mutex_unlock(&vm->lock);
    return ok ? v : NULL;
}

static int get_regs(void *ctx, int thread, struct gdb_amd64_regs *r)
{
    struct gdbstub *g = ctx;
    pthread_mutex_lock(&g->hv->switch_lock);
    struct vcpu *v = held_vcpu(g, thread);
    if (v) {
        pthread_mutex_lock(&g->vm->lock);
        const struct kvm_regs *k = &v->state.regs;
        const struct kvm_sregs *s = &v->state.sregs;
        const struct kvm_fpu *f = &v->state.fpu; /* filled from XSAVE where KVM has it */
        memset(r, 0, sizeof *r);
        /* gdb's order has rbp before rsp; KVM's the other way round. */
        const uint64_t gpr[16] = {k->rax, k->rbx, k->rcx, k->rdx, k->rsi, k->rdi, k->rbp, k->rsp,
                                  k->r8,  k->r9,  k->r10, k->r11, k->r12, k->r13, k->r14, k->r15};
        memcpy(r->gpr, gpr, sizeof gpr);
        r->rip = k->rip;
        r->eflags = (uint32_t)k->rflags;
        const struct kvm_segment *seg[6] = {&s->cs, &s->ss, &s->ds, &s->es, &s->fs, &s->gs};
        for (int i = 0; i < 6; i++)
            r->seg[i] = seg[i]->selector;
        for (int i = 0; i < 8; i++)
            memcpy(r->st[i], f->fpr[i], 10);
        uint32_t ftag = 0; /* FXSAVE's abridged tag: 1 = valid; gdb's full tag: 3 = empty */
        for (int i = 0; i < 8; i++)
            ftag |= (f->ftwx >> i & 1 ? 0u : 3u) << (2 * i);
        const uint32_t ctl[8] = {
            f->fcw, f->fsw, ftag, 0, (uint32_t)f->last_ip, 0, (uint32_t)f->last_dp, f->last_opcode};
        memcpy(r->fpu_ctl, ctl, sizeof ctl);
        memcpy(r->xmm, f->xmm, sizeof r->xmm);
        r->mxcsr = f->mxcsr;
        pthread_mutex_unlock(&g->vm->lock);
    }
    pthread_mutex_unlock(&g->hv->switch_lock);
    return v ? 0 : -1;
}

/* The general registers, rip and rflags go back into the control structure, written into the
 * vCPU when it resumes (state_dirty); segment and FPU writes are not taken. */
static int set_regs(void *ctx, int thread, const struct gdb_amd64_regs *r)
{
    struct gdbstub *g = ctx;
    pthread_mutex_lock(&g->hv->switch_lock);
    struct vcpu *v = held_vcpu(g, thread);
    if (v) {
        pthread_mutex_lock(&g->vm->lock);
        struct kvm_regs *k = &v->state.regs;
        __u64 *dst[16] = {&k->rax, &k->rbx, &k->rcx, &k->rdx, &k->rsi, &k->rdi, &k->rbp, &k->rsp,
                          &k->r8,  &k->r9,  &k->r10, &k->r11, &k->r12, &k->r13, &k->r14, &k->r15};
        for (int i = 0; i < 16; i++)
            *dst[i] = r->gpr[i];
        k->rip = r->rip;
        k->rflags = (k->rflags & ~0xffffffffull) | r->eflags;
        v->state_dirty = true;
        pthread_mutex_unlock(&g->vm->lock);
    }
    pthread_mutex_unlock(&g->hv->switch_lock);
    return v ? 0 : -1;
}

/* The vCPU's paging registers over the VM's RAM; false if the vCPU is not held. */
static bool walk_ctx(struct gdbstub *g, int thread, struct pagewalk_ctx *c)
{
    struct vcpu *v = held_vcpu(g, thread);
    if (!v)
        return false;
    pthread_mutex_lock(&g->vm->lock);
    const struct kvm_sregs *s = &v->state.sregs;
    *c = (struct pagewalk_ctx){.cr0 = s->cr0,
                               .cr3 = s->cr3,
                               .cr4 = s->cr4,
                               .efer = s->efer,
                               .mem = g->vm->mem,
                               .mem_size = g->vm->mem_size};
    pthread_mutex_unlock(&g->vm->lock);
    return true;
}

/* Addresses are guest-virtual, through the thread's page tables (with paging off they are
 * physical): what gdb's symbols name. */
static long read_mem(void *ctx, int thread, uint64_t addr, void *buf, size_t len)
{
    struct gdbstub *g = ctx;
    struct pagewalk_ctx c;
    size_t copied = 0;
    pthread_mutex_lock(&g->hv->switch_lock);
    if (walk_ctx(g, thread, &c))
        pagewalk_read_virt(&c, addr, buf, len, &copied, NULL);
    pthread_mutex_unlock(&g->hv->switch_lock);
    return copied ? (long)copied : -1;
}

static long write_mem(void *ctx, int thread, uint64_t addr, const void *buf, size_t len)
{
    struct gdbstub *g = ctx;
    struct pagewalk_ctx c;
    size_t done = 0;
    pthread_mutex_lock(&g->hv->switch_lock);
    if (walk_ctx(g, thread, &c)) {
        while (done < len) {
            struct pagewalk_result r;
            uint64_t a = addr + done;
            size_t chunk = 4096 - (size_t)(a & 4095);
            if (chunk > len - done)
                chunk = len - done;
            if (pagewalk_translate(&c, a, &r) != PW_OK || r.gpa > g->vm->mem_size ||
                chunk > g->vm->mem_size - r.gpa)
                break;
            /* Straight into RAM, as a debugger may: a protected (read-only) slot included. */
            memcpy(g->vm->mem + r.gpa, (const uint8_t *)buf + done, chunk);
            done += chunk;
        }
    }
    pthread_mutex_unlock(&g->hv->switch_lock);
    return done ? (long)done : -1;
}

int gdbstub_give_back_int3(struct gdbstub *g, int thread, uint64_t pc)
{
    struct pagewalk_ctx c;
    uint8_t byte = 0;
    size_t got = 0;
    int rc = -1;
    pthread_mutex_lock(&g->hv->switch_lock);
    struct vcpu *v = walk_ctx(g, thread, &c) ? &g->vm->vcpus[thread - 1] : NULL;
    if (v) {
        pagewalk_read_virt(&c, pc, &byte, 1, &got, NULL);
        rc = got == 1 && byte == INT3_OPCODE;
        pthread_mutex_lock(&g->vm->lock);
        if (rc == 1 && v->state.has_events) {
            /* Injected as KVM reported it: RIP at the int3, which KVM steps over as it delivers
             * the soft exception through the guest's IDT. */
            struct kvm_vcpu_events *e = &v->state.events;
            e->exception.injected = 1;
            e->exception.nr = BP_VECTOR;
            e->exception.has_error_code = 0;
            e->exception.error_code = 0;
            v->state_dirty = true;
        } else if (rc == 1) {
            rc = -1; /* no KVM_SET_VCPU_EVENTS: it cannot be given back */
        }
        pthread_mutex_unlock(&g->vm->lock);
    }
    pthread_mutex_unlock(&g->hv->switch_lock);
    if (rc == 1)
        log_info("gdb: %s/%d: the guest's own int3 at %#llx given back to it", g->vm->name, thread,
                 (unsigned long long)pc);
    return rc;
}

/* PVM accepts KVM_SET_GUEST_DEBUG but hands the #DB or #BP to the guest, which then crashes
 * (docs/platforms.md): refuse rather than crash it. */
static bool host_is_pvm(void)
{
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

/* KVM_SET_GUEST_DEBUG on every vCPU as `how` asks; the VM is stopped (switch_lock held). */
static int arm(struct gdbstub *g, const struct gdb_resume *how)
{
    const struct platform_ops *p = hv_platform(g->hv);
    struct vm *vm = g->vm;
    bool any = how->step_thread || how->sw_bp || how->nhw;
    if (any && p == &platform_kvm && host_is_pvm()) {
        log_warn("gdb: %s: steps and breakpoints need KVM_EXIT_DEBUG, which PVM does not give "
                 "(docs/gdb-stub.md); refused",
                 vm->name);
        return -1;
    }
    if (!p->set_guest_debug)
        return any ? -1 : 0;
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        struct kvm_guest_debug d;
        memset(&d, 0, sizeof d);
        if (any) {
            d.control = KVM_GUESTDBG_ENABLE;
            if (how->sw_bp)
                d.control |= KVM_GUESTDBG_USE_SW_BP;
            if (how->nhw) {
                d.control |= KVM_GUESTDBG_USE_HW_BP;
                d.arch.debugreg[7] = DR7_RESERVED_1;
                for (int b = 0; b < how->nhw && b < 4; b++) {
                    d.arch.debugreg[b] = how->hw[b];
                    d.arch.debugreg[7] |= 2ull << (2 * b); /* G<b>, execute, length 1 */
                }
            }
            if (how->step_thread == (int)i + 1) /* interrupts would step into their handler */
                d.control |= KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_BLOCKIRQ;
        }
        int rc = p->set_guest_debug(&vm->vcpus[i], &d);
        if (rc < 0 && errno == EINVAL && (d.control & KVM_GUESTDBG_BLOCKIRQ)) {
            d.control &= ~(uint32_t)KVM_GUESTDBG_BLOCKIRQ; /* a kernel older than 5.16 */
            rc = p->set_guest_debug(&vm->vcpus[i], &d);
        }
        if (rc < 0) {
            log_warn("%s/%u: KVM_SET_GUEST_DEBUG: %s", vm->name, i, strerror(errno));
            return -1;
        }
    }
    g->armed = any;
    return 0;
}

void gdbstub_disarm(struct gdbstub *g)
{
    static const struct gdb_resume none;
    char why[200];
    pthread_mutex_lock(&g->hv->switch_lock);
    if (g->armed && g->vm->mem && gdbstub_vm_stopped(g->vm) &&
        vm_wait_captured(g->vm, why, sizeof why) == 0)
        arm(g, &none);
    pthread_mutex_unlock(&g->hv->switch_lock);
}

/* A paused VM resumes; a frozen guest is switched to (the only way it runs again). */
static int resume(void *ctx, const struct gdb_resume *how)
{
    struct gdbstub *g = ctx;
    struct vm *vm = g->vm;
    char err[256];
    pthread_mutex_lock(&g->hv->switch_lock);
    enum vm_state s = vm->state;
    int rc = -1;
    if (s != VM_PAUSED && s != VM_FROZEN)
        log_warn("gdb: %s is %s: it cannot run", vm->name, vm_state_name(s));
    else if (vm_wait_captured(vm, err, sizeof err) < 0)
        log_warn("gdb: %s", err);
    else
        rc = arm(g, how);
    pthread_mutex_unlock(&g->hv->switch_lock);
    if (rc < 0)
        return -1;
    g->pause_sig = 0;
    rc = s == VM_PAUSED ? hv_resume(g->hv, vm, err, sizeof err)
                        : hv_switch_to(g->hv, vm, "gdb", now_ns(), err, sizeof err);
    if (rc < 0)
        log_warn("gdb: resuming %s: %s", vm->name, err);
    return rc;
}

static int interrupt(void *ctx)
{
    struct gdbstub *g = ctx;
    char err[256];
    g->pause_sig = GDB_SIGINT;
    if (hv_pause(g->hv, g->vm, err, sizeof err) < 0 && !gdbstub_vm_stopped(g->vm)) {
        log_warn("gdb: ^C: %s", err);
        return -1;
    }
    return 0; /* the server loop sees it stopped and replies */
}

static void detach(void *ctx, bool kill)
{
    (void)kill; /* a VM is not killed from gdb: k detaches as D does */
    (void)ctx;  /* the server loop resumes it after closing the connection */
}

static int send_all(void *ctx, const void *buf, size_t len)
{
    struct gdbstub *g = ctx;
    const char *p = buf;
    while (len) {
        ssize_t n = send(g->client_fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1; /* the server loop notices the closed or stuck socket on its next read */
        p += n, len -= (size_t)n;
    }
    return 0;
}

void gdbstub_target_init(struct gdbstub *g)
{
    g->target = (struct gdb_target){.ctx = g,
                                    .nthreads = (int)g->vm->nvcpus,
                                    .send = send_all,
                                    .get_regs = get_regs,
                                    .set_regs = set_regs,
                                    .read_mem = read_mem,
                                    .write_mem = write_mem,
                                    .resume = resume,
                                    .interrupt = interrupt,
                                    .detach = detach};
}
