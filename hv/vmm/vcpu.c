/* vcpu.c: the vCPU thread: KVM_RUN, exit dispatch, and parking at an instruction boundary. */
#include "base/log.h"
#include "vmm/platform.h"
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define RFLAGS_IF (1ull << 9)

static _Thread_local struct kvm_run *kick_run;

static void kick_handler(int sig)
{
    (void)sig;
    if (kick_run)
        kick_run->immediate_exit = 1; /* KVM_RUN returns at once, even if not yet entered */
}

void vcpu_signals_init(void)
{
    struct sigaction sa = {.sa_handler = kick_handler, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}

void vcpu_kick_locked(struct vcpu *v)
{
    /* One wake-up, the one the thread listens for: a WAIT polls wake_fd, KVM_RUN and the
     * rest of the loop see the platform's kick (or the request the caller stored first).
     * Each is a syscall that wakes a thread, ~0.1-0.3 ms in the nested machine.  A thread
     * that sets `waiting` after this load sees the caller's request before it polls (both
     * seq_cst). */
    if (atomic_load(&v->waiting)) {
        uint64_t one = 1;
        if (v->wake_fd >= 0) { /* a reset closes it (under the lock), and its number is reused */
            ssize_t w = write(v->wake_fd, &one, sizeof one);
            (void)w;
        }
        return;
    }
    /* The platform signals the thread only while thread_started, which vm_teardown clears under
     * the lock before the join: a kick never reaches a joined thread. */
    hv_platform(v->vm->hv)->kick(v);
}

void vcpu_kick(struct vcpu *v)
{
    pthread_mutex_lock(&v->vm->lock);
    vcpu_kick_locked(v);
    pthread_mutex_unlock(&v->vm->lock);
}

/* Reports the vCPU stopped, completes any pending I/O, captures the control structure,
 * then waits until released.  Runs on the vCPU's own thread. */
static void park(struct vcpu *v)
{
    struct vm *vm = v->vm;
    /* Out of KVM_RUN, the guest runs no further: tell the controller now.  The rest needs
     * only this thread and KVM, so a switch goes on meanwhile (~10 ioctls, 30-300 us);
     * readers of the state wait for it with vm_wait_captured(). */
    pthread_mutex_lock(&vm->lock);
    v->parked = true;
    v->capturing = true;
    v->state_valid = false;
    pthread_mutex_unlock(&vm->lock);
    pthread_cond_broadcast(&vm->cond); /* unlocked: the woken thread takes the lock at once */

    const struct platform_ops *p = hv_platform(vm->hv);
    /* KVM finishes an in-flight PIO/MMIO instruction on the next KVM_RUN;
     * with immediate_exit it does so without entering the guest.  Where KVM can
     * (KVM_CAP_SYNC_REGS), the same call copies out the registers, segment
     * registers and pending events, three ioctls fewer for the capture. */
    const uint32_t want = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
    bool sync = (vm->hv->kvm.sync_regs & want) == want;
    v->run->kvm_valid_regs = sync ? want : 0;
    v->run->immediate_exit = 1;
    int rc = p->run(v);
    if (rc == 0 && v->run->exit_reason != KVM_EXIT_INTR)
        log_debug("%s/%u: completion run exited with %u", vm->name, v->index, v->run->exit_reason);
    sync &= rc == 0 || errno == EINTR; /* KVM copies them out on both ways back */
    v->run->immediate_exit = 0;
    v->run->kvm_valid_regs = 0;
    struct kvm_sync_regs synced;
    if (sync)
        synced = v->run->s.regs;
    /* A fault report's registers go in now that the OUT that carried it has retired:
     * written earlier, KVM's completion of the OUT could step past the reported rip. */
    if (v->evidence.apply) {
        v->evidence.apply = false;
        if (p->set_regs(v, &v->evidence.regs) < 0) {
            log_warn("%s/%u: KVM_SET_REGS (fault report): %s", vm->name, v->index, strerror(errno));
            v->evidence.reported = false;
        } else {
            synced.regs = v->evidence.regs;
        }
    }
    /* A stopped Linux guest's watchdogs must not count the stop (KVM_KVMCLOCK_CTRL). */
    if (vm->cfg.kernel)
        vm_machine_note_stop(v);
    /* Released already (a switch straight back): the state would be stale at once. */
    char why[128] = "released before the capture";
    bool ok = atomic_load(&v->request) == VCPU_REQ_PARK &&
              vcpu_state_capture(&vm->hv->kvm, v, vm->irqchip, sync ? &synced : NULL, &v->state,
                                 why, sizeof why) == 0;

    pthread_mutex_lock(&vm->lock);
    v->state_valid = ok;
    v->state_dirty = false;
    v->capturing = false;
    memcpy(v->state_error, why, sizeof v->state_error);
    pthread_cond_broadcast(&vm->cond);
    while (v->parked && atomic_load(&v->request) != VCPU_REQ_EXIT)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
}

/* An access no device claims: absent hardware, unless the policy forbids the port. */
static void io_unknown(struct vcpu *v, const struct dev_io *io)
{
    static _Atomic unsigned reported;
    if (!io->write)
        memset(io->data, 0xff, (size_t)io->size * io->count);
    struct policy_params pp;
    policy_get_params(&v->vm->hv->policy, &pp);
    if (pp.nports && policy_port_forbidden(&pp, (uint16_t)io->addr)) {
        vm_trap(v->vm, v, POLICY_EV_FORBIDDEN_PORT, "%s of forbidden port 0x%x on vCPU %u",
                io->write ? "write" : "read", (unsigned)io->addr, v->index);
        return;
    }
    if (atomic_fetch_add(&reported, 1) < 16)
        log_warn("%s/%u: %s of unassigned port 0x%x ignored", v->vm->name, v->index,
                 io->write ? "write" : "read", (unsigned)io->addr);
}

static void handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    struct dev_io io = {.space = DEV_PIO,
                        .addr = run->io.port,
                        .size = run->io.size,
                        .count = run->io.count,
                        .write = run->io.direction == KVM_EXIT_IO_OUT,
                        .data = (uint8_t *)run + run->io.data_offset};
    if (!devices_io(&v->vm->devices, v, &io))
        io_unknown(v, &io);
}

static void handle_mmio(struct vcpu *v)
{
    static _Atomic unsigned reported;
    struct kvm_run *run = v->run;
    if (run->mmio.is_write && run->mmio.phys_addr < v->vm->mem_size) {
        /* RAM that exits on a write is a read-only slot: a protected range. KVM
         * has dropped the write; the guest goes on past it unless policy stops it. */
        vm_trap(v->vm, v, POLICY_EV_WRITE_PROTECTED, "%u-byte write to protected 0x%llx on vCPU %u",
                run->mmio.len, (unsigned long long)run->mmio.phys_addr, v->index);
        return;
    }
    struct dev_io io = {.space = DEV_MMIO,
                        .addr = run->mmio.phys_addr,
                        .size = run->mmio.len,
                        .count = 1,
                        .write = run->mmio.is_write,
                        .data = run->mmio.data};
    if (devices_io(&v->vm->devices, v, &io))
        return;
    if (!run->mmio.is_write)
        memset(run->mmio.data, 0xff, sizeof run->mmio.data);
    if (atomic_fetch_add(&reported, 1) < 16)
        log_warn("%s/%u: MMIO %s of unbacked address 0x%llx ignored", v->vm->name, v->index,
                 run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr);
}

static void handle_msr(struct vcpu *v, bool write)
{
    struct kvm_run *run = v->run;
    bool go_on = vm_trap(v->vm, v, POLICY_EV_FORBIDDEN_MSR, "%s of forbidden MSR 0x%x on vCPU %u",
                         write ? "WRMSR" : "RDMSR", run->msr.index, v->index);
    /* resume: reads give 0 and writes vanish; otherwise the access faults (#GP) as on
     * hardware that lacks the MSR. */
    bool resume =
        policy_action_for(&v->vm->hv->policy, POLICY_EV_FORBIDDEN_MSR) == POLICY_ACT_RESUME;
    run->msr.error = go_on && resume ? 0 : 1;
    run->msr.data = 0;
}

void vcpu_deliver_nmi(struct vcpu *v)
{
    const struct platform_ops *p = hv_platform(v->vm->hv);
    struct kvm_regs regs;
    /* Without an in-kernel LAPIC, KVM exits when the guest opens an interrupt
     * window; with one it queues the NMI itself, and NMIs ignore RFLAGS.IF. */
    if (!v->vm->irqchip && p->get_regs(v, &regs) == 0 && (regs.rflags & RFLAGS_IF) &&
        !v->run->ready_for_interrupt_injection) {
        v->run->request_interrupt_window = 1;
        return;
    }
    v->run->request_interrupt_window = 0;
    atomic_store(&v->vm->nmi_pending, false);
    if (p->nmi(v) < 0)
        log_warn("%s/%u: KVM_NMI: %s", v->vm->name, v->index, strerror(errno));
}

static void handle_hlt(struct vcpu *v)
{
    struct kvm_regs regs;
    if (hv_platform(v->vm->hv)->get_regs(v, &regs) == 0 && !(regs.rflags & (1u << 9)))
        vm_trap(v->vm, v, POLICY_EV_HALTED_IRQS_OFF,
                "HLT with interrupts off at rip 0x%llx on vCPU %u", (unsigned long long)regs.rip,
                v->index);
    else
        vm_stop_from_vcpu(v, VM_HALTED, 0, "vCPU %u executed HLT with nothing to wake it",
                          v->index);
}

static void handle_internal_error(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    char data[96] = "";
    int n = 0;
    for (uint32_t i = 0; i < run->internal.ndata && i < 4 && n < (int)sizeof data - 24; i++)
        n += snprintf(data + n, sizeof data - (size_t)n, " 0x%llx",
                      (unsigned long long)run->internal.data[i]);
    /* For KVM_INTERNAL_ERROR_DELIVERY_EV, data[0] is the IDT-vectoring info of the event
     * whose delivery faulted: the evidence of a fault during delivery of another. */
    vm_trap(v->vm, v, POLICY_EV_INTERNAL_ERROR,
            "KVM internal error, suberror %u%s, data%s on vCPU %u", run->internal.suberror,
            run->internal.suberror == KVM_INTERNAL_ERROR_DELIVERY_EV
                ? " (fault during event delivery)"
                : "",
            data[0] ? data : " none", v->index);
}

/* A triple fault.  VT-x and PVM leave the vCPU as it faulted; AMD SVM cannot (the VMCB is
 * undefined after a shutdown intercept), so KVM resets it and hv would read the reset
 * vector.  Say so rather than present those registers as the guest's. */
static void handle_shutdown(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    const struct platform_ops *p = hv_platform(v->vm->hv);
    if (p->get_regs(v, &r) < 0 || p->get_sregs(v, &s) < 0) {
        vm_trap(v->vm, v, POLICY_EV_TRIPLE_FAULT, "triple fault on vCPU %u", v->index);
        return;
    }
    if (fault_regs_look_reset(&r, &s)) {
        v->evidence = (struct fault_evidence){.lost = true};
        vm_trap(v->vm, v, POLICY_EV_TRIPLE_FAULT, "triple fault on vCPU %u; registers lost: %s",
                v->index, FAULT_LOST_REASON);
        return;
    }
    vm_trap(v->vm, v, POLICY_EV_TRIPLE_FAULT, "triple fault on vCPU %u at rip 0x%llx", v->index,
            (unsigned long long)r.rip);
}

static void handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v);
        break;
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        break;
    case KVM_EXIT_INTR:
        break;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        if (atomic_load(&v->vm->nmi_pending))
            vcpu_deliver_nmi(v);
        run->request_interrupt_window = 0;
        break;
    case KVM_EXIT_HLT:
        handle_hlt(v);
        break;
    case KVM_EXIT_SHUTDOWN:
        handle_shutdown(v);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        vm_trap(v->vm, v, POLICY_EV_INTERNAL_ERROR, "VM entry failed on vCPU %u (reason 0x%llx)",
                v->index, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        handle_internal_error(v);
        break;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
        handle_msr(v, run->exit_reason == KVM_EXIT_X86_WRMSR);
        break;
    case KVM_EXIT_DEBUG: {
        const struct vmm_hooks *h = v->vm->hv->hooks;
        if (!h || !h->debug_exit || !h->debug_exit(v, &run->debug.arch))
            vm_trap(v->vm, v, POLICY_EV_INTERNAL_ERROR,
                    "debug exit (exception %u) no debugger asked for on vCPU %u",
                    run->debug.arch.exception, v->index);
        break;
    }
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
            vm_trap(v->vm, v, POLICY_EV_GUEST_PANIC,
                    "guest reported a crash (system event) on vCPU %u", v->index);
        else
            vm_stop_from_vcpu(v, VM_HALTED, 0, "system event %u on vCPU %u", run->system_event.type,
                              v->index);
        break;
    default:
        vm_trap(v->vm, v, POLICY_EV_INTERNAL_ERROR, "unhandled KVM exit %u on vCPU %u",
                run->exit_reason, v->index);
        break;
    }
}

/* Watchdog: a digest of the registers, and whether the vCPU sleeps with interrupts off. */
static void take_sample(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_mp_state mp = {0};
    const struct platform_ops *p = hv_platform(v->vm->hv);
    if (p->get_regs(v, &r) < 0)
        return;
    p->get_mp_state(v, &mp);
    uint64_t h = 1469598103934665603ull;
    const uint64_t *w = (const uint64_t *)&r;
    for (size_t i = 0; i < sizeof r / sizeof *w; i++)
        h = (h ^ w[i]) * 1099511628211ull;
    v->sample_hash = h;
    v->sample_halted_irqs_off = mp.mp_state == KVM_MP_STATE_HALTED && !(r.rflags & (1u << 9));
    atomic_fetch_add(&v->sample_seq, 1);
}

static void record_entry(struct vcpu *v)
{
    uint64_t t0 = atomic_exchange(&v->entry_stamp, 0);
    if (!t0)
        return;
    struct hv *hv = v->vm->hv;
    stats_add(v->vm->role == VIGIL_ROLE_SERVICE ? &hv->switch_to_service : &hv->switch_to_guest,
              now_ns() - t0);
}

void *vcpu_thread_main(void *arg)
{
    struct vcpu *v = arg;
    kick_run = v->run;
    for (;;) {
        int req = atomic_load(&v->request);
        if (req == VCPU_REQ_EXIT)
            break;
        if (req == VCPU_REQ_PARK) {
            park(v);
            continue;
        }
        v->run->immediate_exit = 0;
        /* A kick that landed before the line above left its request behind. */
        if (atomic_load(&v->request) != VCPU_REQ_NONE)
            continue;
        if (atomic_exchange(&v->sample_request, false))
            take_sample(v);
        if (v->index == 0 && atomic_load(&v->vm->nmi_pending) && !v->run->request_interrupt_window)
            vcpu_deliver_nmi(v);
        atomic_store(&v->in_run, true);
        record_entry(v);
        int rc = hv_platform(v->vm->hv)->run(v);
        atomic_store(&v->in_run, false);
        if (rc < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vm_trap(v->vm, v, POLICY_EV_INTERNAL_ERROR, "KVM_RUN failed on vCPU %u: %s", v->index,
                    strerror(errno));
            continue;
        }
        atomic_fetch_add(&v->exits, 1);
        handle_exit(v);
    }
    kick_run = NULL;
    return NULL;
}
