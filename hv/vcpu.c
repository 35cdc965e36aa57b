/* vcpu.c: the vCPU thread: KVM_RUN, exit dispatch, and parking at an instruction boundary. */
#include "hypercall.h"
#include "log.h"
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PVPANIC_PORT     0x505u
#define PVPANIC_PANICKED 0x1u
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

void vcpu_kick(struct vcpu *v)
{
    uint64_t one = 1;
    ssize_t w = write(v->wake_fd, &one, sizeof one);
    (void)w;
    if (v->thread_started)
        pthread_kill(v->thread, SIGUSR1);
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
    char why[128] = "";
    bool ok = vcpu_state_capture(&vm->hv->kvm, v->fd, vm->irqchip, &v->state, why, sizeof why) == 0;

    pthread_mutex_lock(&vm->lock);
    v->state_valid = ok;
    memcpy(v->state_error, why, sizeof v->state_error);
    v->parked = true;
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
        vm_stop_from_vcpu(v, VM_CRASHED, 0, "pvpanic: guest reported a panic (0x%x)", data[0]);
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
    if (!run->mmio.is_write)
        memset(run->mmio.data, 0xff, sizeof run->mmio.data);
    if (atomic_fetch_add(&reported, 1) < 16)
        log_warn("%s/%u: MMIO %s of unbacked address 0x%llx ignored", v->vm->name, v->index,
                 run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr);
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
    case KVM_EXIT_HLT:
        vm_stop_from_vcpu(v, VM_HALTED, 0, "vCPU %u executed HLT", v->index);
        break;
    case KVM_EXIT_SHUTDOWN:
        vm_stop_from_vcpu(v, VM_CRASHED, 0, "triple fault on vCPU %u", v->index);
        break;
    case KVM_EXIT_FAIL_ENTRY:
        vm_stop_from_vcpu(v, VM_CRASHED, 0, "VM entry failed on vCPU %u (reason 0x%llx)", v->index,
                          (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        vm_stop_from_vcpu(v, VM_CRASHED, 0, "KVM internal error %u on vCPU %u", run->internal.suberror,
                          v->index);
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        vm_stop_from_vcpu(v, run->system_event.type == KVM_SYSTEM_EVENT_CRASH ? VM_CRASHED : VM_HALTED, 0,
                          "system event %u on vCPU %u", run->system_event.type, v->index);
        break;
    default:
        vm_stop_from_vcpu(v, VM_CRASHED, 0, "unhandled KVM exit %u on vCPU %u", run->exit_reason,
                          v->index);
        break;
    }
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
        record_entry(v);
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vm_stop_from_vcpu(v, VM_CRASHED, 0, "KVM_RUN failed on vCPU %u: %s", v->index, strerror(errno));
            continue;
        }
        atomic_fetch_add(&v->exits, 1);
        handle_exit(v);
    }
    kick_run = NULL;
    return NULL;
}
