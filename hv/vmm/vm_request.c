/* vm_request.c: a VM's stop requests and traps, events and wake-ups, console and IRQ plumbing. */
#include "vmm/vm.h"

#include "base/log.h"
#include "vmm/platform.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *vm_state_name(enum vm_state s)
{
    static const char *const names[] = {"created", "running", "paused",
                                        "frozen",  "halted",  "crashed"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
    uint64_t end;
    if (__builtin_add_overflow(gpa, len, &end) || end > vm->mem_size)
        return NULL;
    return vm->mem + gpa;
}

uint32_t vm_crashed_vcpu(const struct vm *vm)
{
    for (uint32_t i = 0; i < vm->nvcpus; i++)
        if (vm->vcpus[i].evidence.reported || vm->vcpus[i].evidence.lost)
            return i;
    return 0;
}

void vm_console_out(struct vm *vm, const void *buf, size_t len)
{
    console_output(&vm->console, buf, len, atomic_load(&vm->hv->foreground) == vm);
}

size_t vm_console_in(struct vm *vm, const void *buf, size_t len)
{
    size_t n = console_input_push(&vm->console, buf, len);
    devices_console_input(&vm->devices);
    vm_raise_event(vm, 0);
    return n;
}

size_t vm_console_take(struct vm *vm, void *buf, size_t max)
{
    size_t n = console_input_pop(&vm->console, buf, max);
    devices_console_input(&vm->devices); /* a UART's "data ready" may have gone */
    return n;
}

static void irq_line(struct vm *vm, uint32_t irq, bool level)
{
    struct kvm_irq_level l = {.irq = irq, .level = level};
    if (hv_platform(vm->hv)->irq_line(vm, &l) < 0)
        log_warn("%s: KVM_IRQ_LINE %u: %s", vm->name, irq, strerror(errno));
}

void vm_irq_line(struct vm *vm, uint32_t irq, bool level)
{
    if (!vm->irqchip)
        return;
    pthread_mutex_lock(&vm->irq_lock);
    irq_line(vm, irq, level);
    if (irq < 32) {
        uint32_t bit = 1u << irq;
        vm->irq_driven |= bit;
        vm->irq_levels = level ? vm->irq_levels | bit : vm->irq_levels & ~bit;
    }
    pthread_mutex_unlock(&vm->irq_lock);
}

void vm_irq_replay(struct vm *vm)
{
    if (!vm->irqchip)
        return;
    pthread_mutex_lock(&vm->irq_lock);
    for (uint32_t irq = 0; irq < 32; irq++) {
        uint32_t bit = 1u << irq;
        if (!(vm->irq_driven & bit))
            continue;
        /* Low first in either case: it clears a restored chip's stale request for a line that
         * fell meanwhile, and makes the edge an edge-triggered pin needs to latch a high one
         * (a level-triggered pin merely sees its level again; its EOI state is the chip's). */
        irq_line(vm, irq, false);
        if (vm->irq_levels & bit)
            irq_line(vm, irq, true);
    }
    pthread_mutex_unlock(&vm->irq_lock);
}

void vm_raise_event(struct vm *vm, uint64_t events)
{
    atomic_fetch_or(&vm->events, events);
    /* Under the lock: a reset of this VM (e.g. the service VM's restart) closes the eventfds,
     * and the main loop may reuse their numbers at once. */
    pthread_mutex_lock(&vm->lock);
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        uint64_t one = 1;
        if (vm->vcpus[i].wake_fd >= 0) {
            ssize_t w = write(vm->vcpus[i].wake_fd, &one, sizeof one);
            (void)w;
        }
    }
    pthread_mutex_unlock(&vm->lock);
}

void hv_wake_main_loop(struct hv *hv)
{
    uint64_t one = 1;
    ssize_t w = write(hv->work_fd, &one, sizeof one);
    (void)w;
}

enum vm_state vm_get_state(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vm_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

static void vm_vrequest(struct vm *vm, struct vcpu *self, enum vm_request req, enum vm_state result,
                        int event, uint64_t sel_id, uint64_t status, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop_pending && vm->state != VM_HALTED && vm->state != VM_CRASHED) {
        vm->stop_pending = true;
        vm->req = req;
        vm->stop_state = result;
        vm->req_event = event;
        vm->req_sel_id = sel_id;
        vm->req_ns = now_ns();
        vm->halt_status = status;
        vsnprintf(vm->stop_reason, sizeof vm->stop_reason, fmt, ap);
    }
    for (uint32_t i = 0; i < vm->nvcpus; i++) {
        atomic_store(&vm->vcpus[i].request, VCPU_REQ_PARK);
        if (&vm->vcpus[i] != self)
            vcpu_kick_locked(&vm->vcpus[i]);
    }
    pthread_mutex_unlock(&vm->lock);
    hv_wake_main_loop(vm->hv);
}

void vm_request(struct vm *vm, struct vcpu *self, enum vm_request req, enum vm_state result,
                int event, uint64_t sel_id, uint64_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_vrequest(vm, self, req, result, event, sel_id, status, fmt, ap);
    va_end(ap);
}

void vm_stop_from_vcpu(struct vcpu *v, enum vm_state why, uint64_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vm_vrequest(v->vm, v, VMREQ_STOP, why, -1, 0, status, fmt, ap);
    va_end(ap);
}

bool vm_trap(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
{
    char detail[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    const struct vmm_hooks *h = vm->hv->hooks;
    if (h && h->trap)
        return h->trap(vm, self, ev, detail);
    /* No policy to ask (a benchmark driving libhv): keep what evidence there is. */
    log_warn("%s: %s: %s", vm->name, policy_event_name(ev), detail);
    vm_request(vm, self, VMREQ_STOP, VM_CRASHED, (int)ev, 0, 0, "%s: %s", policy_event_name(ev),
               detail);
    return false;
}
