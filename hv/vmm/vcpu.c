/* vcpu.c: the vCPU thread: KVM_RUN, exit dispatch, and parking at an instruction boundary. */
#include "base/log.h"
#include "supervisor/hypercall.h"
#include "supervisor/trap.h"
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PVPANIC_PORT         0x505u
#define PVPANIC_PANICKED     0x1u
#define PVPANIC_CRASH_LOADED 0x2u

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
    uint64_t one = 1;
    if (v->wake_fd >= 0) { /* a reset closes it (under the lock), and its number is reused */
        ssize_t w = write(v->wake_fd, &one, sizeof one);
        (void)w;
    }
    if (v->thread_started) /* not yet joined: vm_teardown clears this under the lock first */
        pthread_kill(v->thread, SIGUSR1);
}

void vcpu_kick(struct vcpu *v)
{
    pthread_mutex_lock(&v->vm->lock);
    vcpu_kick_locked(v);
    pthread_mutex_unlock(&v->vm->lock);
}

/* Completes any pending I/O, captures the control structure, then waits
 * until released.  Runs on the vCPU's own thread. */
static void park(struct vcpu *v)
{
    struct vm *vm = v->vm;
    /* KVM finishes an in-flight PIO/MMIO instruction on the next KVM_RUN;
     * with immediate_exit it does so without entering the guest. */
    v->run->immediate_exit = 1;
    if (ioctl(v->fd, KVM_RUN, 0) == 0 && v->run->exit_reason != KVM_EXIT_INTR)
        log_debug("%s/%u: completion run exited with %u", vm->name, v->index, v->run->exit_reason);
    v->run->immediate_exit = 0;
    /* A fault report's registers go in now that the OUT that carried it has retired:
     * written earlier, KVM's completion of the OUT could step past the reported rip. */
    if (v->evidence.apply) {
        v->evidence.apply = false;
        if (ioctl(v->fd, KVM_SET_REGS, &v->evidence.regs) < 0) {
            log_warn("%s/%u: KVM_SET_REGS (fault report): %s", vm->name, v->index, strerror(errno));
            v->evidence.reported = false;
        }
    }
    /* Stopped: tell the controller now, and fill the control structure after,
     * so that the switch does not wait for ten ioctls (they cost ~6 us each
     * here).  Readers of the state wait for it with vm_wait_captured(). */
    pthread_mutex_lock(&vm->lock);
    v->parked = true;
    v->capturing = true;
    v->state_valid = false;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);

    char why[128] = "";
    bool ok = vcpu_state_capture(&vm->hv->kvm, v->fd, vm->irqchip, &v->state, why, sizeof why) == 0;

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

static void io_unknown(struct vcpu *v, struct kvm_run *run, uint8_t *data)
{
    static _Atomic unsigned reported;
    if (run->io.direction == KVM_EXIT_IO_IN)
        memset(data, 0xff, (size_t)run->io.size * run->io.count);
    struct policy_params pp;
    policy_get_params(&v->vm->hv->policy, &pp);
    if (pp.nports && policy_port_forbidden(&pp, run->io.port)) {
        trap_raise(v->vm, v, POLICY_EV_FORBIDDEN_PORT, "%s of forbidden port 0x%x on vCPU %u",
                   run->io.direction == KVM_EXIT_IO_IN ? "read" : "write", run->io.port, v->index);
        return;
    }
    if (atomic_fetch_add(&reported, 1) < 16)
        log_warn("%s/%u: %s of unassigned port 0x%x ignored", v->vm->name, v->index,
                 run->io.direction == KVM_EXIT_IO_IN ? "read" : "write", run->io.port);
}

static void handle_pvpanic(struct vcpu *v, struct kvm_run *run, uint8_t *data)
{
    if (run->io.direction == KVM_EXIT_IO_IN) {
        memset(data, 0, (size_t)run->io.size * run->io.count);
        data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED; /* the events hv understands */
        return;
    }
    if (data[0] & PVPANIC_PANICKED)
        trap_raise(v->vm, v, POLICY_EV_PVPANIC,
                   "guest wrote PANICKED (0x%x) to port 0x505 at vCPU %u", data[0], v->index);
    else if (data[0] & PVPANIC_CRASH_LOADED)
        log_warn("%s: pvpanic: guest is loading its own crash kernel", v->vm->name);
}

static void handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    uint16_t port = run->io.port;
    if (port >= VIGIL_HC_PORT_BASE && port <= VIGIL_HC_PORT_END) {
        if (run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 && run->io.count == 1) {
            uint32_t gpa;
            memcpy(&gpa, data, sizeof gpa);
            hypercall_dispatch(v, port - VIGIL_HC_PORT_BASE, gpa);
        } else {
            if (run->io.direction == KVM_EXIT_IO_IN)
                memset(data, 0xff, (size_t)run->io.size * run->io.count);
            hypercall_reject(v, port - VIGIL_HC_PORT_BASE, "not a 32-bit OUT");
        }
        return;
    }
    if (port >= UART_COM1_BASE && port < UART_COM1_BASE + 8) {
        pthread_mutex_lock(&v->vm->uart_lock);
        for (uint32_t i = 0; i < run->io.count; i++) {
            uint8_t *p = data + (size_t)i * run->io.size;
            if (run->io.direction == KVM_EXIT_IO_IN)
                *p = uart_read(&v->vm->uart, port - UART_COM1_BASE);
            else
                uart_write(&v->vm->uart, port - UART_COM1_BASE, *p);
        }
        pthread_mutex_unlock(&v->vm->uart_lock);
        return;
    }
    if (port == PVPANIC_PORT) {
        handle_pvpanic(v, run, data);
        return;
    }
    io_unknown(v, run, data);
}

static void handle_mmio(struct vcpu *v)
{
    static _Atomic unsigned reported;
    struct kvm_run *run = v->run;
    if (run->mmio.is_write && run->mmio.phys_addr < v->vm->mem_size) {
        /* RAM that exits on a write is a read-only slot: a protected range. KVM
         * has dropped the write; the guest goes on past it unless policy stops it. */
        trap_raise(v->vm, v, POLICY_EV_WRITE_PROTECTED,
                   "%u-byte write to protected 0x%llx on vCPU %u", run->mmio.len,
                   (unsigned long long)run->mmio.phys_addr, v->index);
        return;
    }
    if (!run->mmio.is_write)
        memset(run->mmio.data, 0xff, sizeof run->mmio.data);
    if (atomic_fetch_add(&reported, 1) < 16)
        log_warn("%s/%u: MMIO %s of unbacked address 0x%llx ignored", v->vm->name, v->index,
                 run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr);
}

static void handle_msr(struct vcpu *v, bool write)
{
    struct kvm_run *run = v->run;
    bool go_on =
        trap_raise(v->vm, v, POLICY_EV_FORBIDDEN_MSR, "%s of forbidden MSR 0x%x on vCPU %u",
                   write ? "WRMSR" : "RDMSR", run->msr.index, v->index);
    /* resume: reads give 0 and writes vanish; otherwise the access faults (#GP) as on
     * hardware that lacks the MSR. */
    bool resume =
        policy_action_for(&v->vm->hv->policy, POLICY_EV_FORBIDDEN_MSR) == POLICY_ACT_RESUME;
    run->msr.error = go_on && resume ? 0 : 1;
    run->msr.data = 0;
}

static void handle_hlt(struct vcpu *v)
{
    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && !(regs.rflags & (1u << 9)))
        trap_raise(v->vm, v, POLICY_EV_HALTED_IRQS_OFF,
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
    trap_raise(v->vm, v, POLICY_EV_INTERNAL_ERROR,
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
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        trap_raise(v->vm, v, POLICY_EV_TRIPLE_FAULT, "triple fault on vCPU %u", v->index);
        return;
    }
    if (fault_regs_look_reset(&r, &s)) {
        v->evidence = (struct fault_evidence){.lost = true};
        trap_raise(v->vm, v, POLICY_EV_TRIPLE_FAULT, "triple fault on vCPU %u; registers lost: %s",
                   v->index, FAULT_LOST_REASON);
        return;
    }
    trap_raise(v->vm, v, POLICY_EV_TRIPLE_FAULT, "triple fault on vCPU %u at rip 0x%llx", v->index,
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
            trap_deliver_nmi(v);
        run->request_interrupt_window = 0;
        break;
    case KVM_EXIT_HLT:
        handle_hlt(v);
        break;
    case KVM_EXIT_SHUTDOWN:
        handle_shutdown(v);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        trap_raise(v->vm, v, POLICY_EV_INTERNAL_ERROR, "VM entry failed on vCPU %u (reason 0x%llx)",
                   v->index, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        handle_internal_error(v);
        break;
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
        handle_msr(v, run->exit_reason == KVM_EXIT_X86_WRMSR);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
            trap_raise(v->vm, v, POLICY_EV_GUEST_PANIC,
                       "guest reported a crash (system event) on vCPU %u", v->index);
        else
            vm_stop_from_vcpu(v, VM_HALTED, 0, "system event %u on vCPU %u", run->system_event.type,
                              v->index);
        break;
    default:
        trap_raise(v->vm, v, POLICY_EV_INTERNAL_ERROR, "unhandled KVM exit %u on vCPU %u",
                   run->exit_reason, v->index);
        break;
    }
}

/* Watchdog: a digest of the registers, and whether the vCPU sleeps with interrupts off. */
static void take_sample(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_mp_state mp = {0};
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
        return;
    ioctl(v->fd, KVM_GET_MP_STATE, &mp);
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
            trap_deliver_nmi(v);
        record_entry(v);
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            trap_raise(v->vm, v, POLICY_EV_INTERNAL_ERROR, "KVM_RUN failed on vCPU %u: %s",
                       v->index, strerror(errno));
            continue;
        }
        atomic_fetch_add(&v->exits, 1);
        handle_exit(v);
    }
    kick_run = NULL;
    return NULL;
}
