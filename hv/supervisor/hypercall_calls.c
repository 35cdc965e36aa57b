/* hypercall_calls.c: ABI v1's hypercalls, one row and one handler each, and their ports. */
#include "supervisor/hypercall.h"

#include "base/log.h"
#include "supervisor/svcchan.h"
#include "supervisor/switch.h"
#include "supervisor/trap.h"
#include "vmm/platform.h"
#include "vmm/vm.h"
#include "x86/elf_loader.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t hc_version(struct vcpu *v, void *arg, uint32_t gpa)
{
    struct vigil_hc_version *a = arg;
    (void)gpa;
    if (a->guest_abi < 1)
        return VIGIL_ENOTSUP;
    a->agreed_abi = VIGIL_ABI_VERSION;
    a->features =
        VIGIL_FEAT_UART | VIGIL_FEAT_FAULT | VIGIL_FEAT_DEVICE |
        (hypercall_allowed(&vigil_hypercalls.calls[VIGIL_HC_SWITCH], v->vm) ? VIGIL_FEAT_SWITCH
                                                                            : 0) |
        (hypercall_allowed(&vigil_hypercalls.calls[VIGIL_HC_SVC_CALL], v->vm) ? VIGIL_FEAT_SVCCHAN
                                                                              : 0);
    return 0;
}

static int64_t hc_console_write(struct vcpu *v, void *arg, uint32_t gpa)
{
    const struct vigil_hc_buf *a = arg;
    (void)gpa;
    if (a->len > VIGIL_HC_CONSOLE_MAX)
        return VIGIL_E2BIG;
    const void *src = vm_gpa(v->vm, a->gpa, a->len);
    if (!src)
        return VIGIL_EFAULT;
    uint8_t copy[VIGIL_HC_CONSOLE_MAX]; /* other vCPUs may change guest memory meanwhile */
    memcpy(copy, src, a->len);
    vm_console_out(v->vm, copy, a->len);
    return (int64_t)a->len;
}

static int64_t hc_console_read(struct vcpu *v, void *arg, uint32_t gpa)
{
    const struct vigil_hc_buf *a = arg;
    (void)gpa;
    if (a->len > VIGIL_HC_CONSOLE_MAX)
        return VIGIL_E2BIG;
    void *dst = vm_gpa(v->vm, a->gpa, a->len);
    if (!dst)
        return VIGIL_EFAULT;
    return (int64_t)vm_console_take(v->vm, dst, a->len);
}

static int64_t hc_time(struct vcpu *v, void *arg, uint32_t gpa)
{
    struct vigil_hc_time *a = arg;
    (void)v, (void)gpa;
    a->wall_ns = wall_ns();
    a->monotonic_ns = now_ns();
    return 0;
}

#define EDGE_EVENTS                                                                                \
    (VIGIL_EV_FOREGROUND | VIGIL_EV_NOTIFY | VIGIL_EV_DEVICE | VIGIL_EV_CHANNEL | VIGIL_EV_REPLY)
#define KNOWN_EVENTS (VIGIL_EV_CONSOLE_IN | EDGE_EVENTS)

static uint64_t take_ready(struct vm *vm, uint64_t mask)
{
    uint64_t ready = atomic_fetch_and(&vm->events, ~(mask & EDGE_EVENTS)) & mask & EDGE_EVENTS;
    if ((mask & VIGIL_EV_CONSOLE_IN) && console_input_pending(&vm->console))
        ready |= VIGIL_EV_CONSOLE_IN;
    return ready;
}

static int64_t hc_wait(struct vcpu *v, void *arg, uint32_t gpa)
{
    struct vigil_hc_wait *a = arg;
    (void)gpa;
    if (a->events & ~KNOWN_EVENTS)
        return VIGIL_EINVAL;
    atomic_store(&v->waiting, true); /* kicks now come through wake_fd (vcpu_kick) */
    for (;;) {
        uint64_t drain;
        ssize_t r = read(v->wake_fd, &drain, sizeof drain);
        (void)r;
        a->ready = take_ready(v->vm, a->events);
        uint64_t now = now_ns();
        if (a->ready || now >= a->deadline_ns || atomic_load(&v->request) != VCPU_REQ_NONE)
            break;
        struct pollfd pfd = {.fd = v->wake_fd, .events = POLLIN};
        struct timespec ts, *tsp = NULL;
        if (a->deadline_ns != UINT64_MAX) {
            uint64_t left = a->deadline_ns - now;
            ts.tv_sec = (time_t)(left / 1000000000ull);
            ts.tv_nsec = (long)(left % 1000000000ull);
            tsp = &ts;
        }
        if (ppoll(&pfd, 1, tsp, NULL) < 0 && errno != EINTR)
            break;
    }
    atomic_store(&v->waiting, false);
    return 0;
}

/* Copies a guest message (bounded, made printable); "" when absent or out of RAM. */
static void guest_message(struct vcpu *v, uint64_t gpa, uint64_t len,
                          char msg[VIGIL_HC_HALT_MSG_MAX + 1])
{
    msg[0] = 0;
    if (len > VIGIL_HC_HALT_MSG_MAX)
        len = VIGIL_HC_HALT_MSG_MAX;
    const char *src = len ? vm_gpa(v->vm, gpa, len) : NULL;
    if (!src)
        return;
    memcpy(msg, src, len);
    msg[len] = 0;
    for (uint64_t i = 0; i < len; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = '?'; /* keep the log line one printable line */
}

/* A fault report: the exception stub's frame follows the PANIC structure.  If it
 * is sound, the vCPU's registers become the reported ones once it has parked (see
 * park() in vcpu.c), so that the freeze, the snapshot and the SEL all show where
 * the guest faulted, not the stub.  The vCPU never continues after it. */
static int64_t hc_fault_report(struct vcpu *v, const struct vigil_hc_panic *a, uint32_t gpa,
                               const char *msg)
{
    struct vigil_fault_frame f;
    const void *src = vm_gpa(v->vm, (uint64_t)gpa + sizeof *a, sizeof f);
    char why[128] = "", detail[160];
    struct kvm_sregs sregs;
    int64_t ret = 0;
    if (!src) {
        snprintf(why, sizeof why, "its frame lies outside guest RAM");
        ret = VIGIL_EFAULT;
    } else if (hv_platform(v->vm->hv)->get_sregs(v, &sregs) < 0) {
        snprintf(why, sizeof why, "KVM_GET_SREGS: %s", strerror(errno));
        ret = VIGIL_EINVAL;
    } else {
        memcpy(&f, src, sizeof f); /* a private copy: other vCPUs may rewrite it */
        if (fault_frame_check(&f, sregs.cs.selector, why, sizeof why) < 0)
            ret = VIGIL_EINVAL;
    }
    if (ret < 0) {
        trap_raise_fatal(v->vm, v, POLICY_EV_GUEST_PANIC,
                         "fault report on vCPU %u rejected (%s); registers are the handler's%s%s",
                         v->index, why, msg[0] ? ": " : "", msg);
        return ret;
    }
    struct fault_evidence *e = &v->evidence;
    *e = (struct fault_evidence){.reported = true,
                                 .apply = true,
                                 .vector = (uint32_t)f.vector,
                                 .error_code = f.error_code,
                                 /* The stub runs at the guest's CPL, which cannot read CR2;
                                  * nothing between the fault and this exit changed it. */
                                 .cr2 = f.vector == 14 ? sregs.cr2 : 0};
    fault_frame_regs(&f, &e->regs);
    fault_describe(e, detail, sizeof detail);
    trap_raise_fatal(v->vm, v, POLICY_EV_GUEST_PANIC,
                     "%s on vCPU %u, registers from the guest's fault report%s%s", detail, v->index,
                     msg[0] ? ": " : "", msg);
    return 0;
}

static int64_t hc_panic(struct vcpu *v, void *arg, uint32_t gpa)
{
    const struct vigil_hc_panic *a = arg;
    char msg[VIGIL_HC_HALT_MSG_MAX + 1];
    guest_message(v, a->msg_gpa, a->msg_len, msg);
    if (a->code & VIGIL_PANIC_F_FAULT)
        return hc_fault_report(v, a, gpa, msg);
    trap_raise(v->vm, v, POLICY_EV_GUEST_PANIC, "panic hypercall, code %llu%s%s",
               (unsigned long long)a->code, msg[0] ? ": " : "", msg);
    return 0;
}

/* Arms (or, with entries_gpa 0, disarms) the gates of hv's IDT for the whole VM. */
static int64_t hc_set_fault_handler(struct vcpu *v, void *arg, uint32_t gpa)
{
    const struct vigil_hc_fault_handler *a = arg;
    (void)gpa;
    struct vm *vm = v->vm;
    if (a->reserved)
        return VIGIL_EINVAL;
    if (!a->entries_gpa) {
        pthread_mutex_lock(&vm->lock); /* vCPUs calling at once must not mix their gates */
        boot_write_idt(vm->mem, &vm->boot, NULL);
        pthread_mutex_unlock(&vm->lock);
        log_info("%s: exception handlers removed (vCPU %u)", vm->name, v->index);
        return 0;
    }
    uint64_t entries[VIGIL_FAULT_VECTORS];
    const void *src = vm_gpa(vm, a->entries_gpa, sizeof entries);
    if (!src)
        return VIGIL_EFAULT;
    memcpy(entries, src, sizeof entries);
    char why[128];
    if (fault_check_entries(entries, VIGIL_FAULT_VECTORS, ELF_LOAD_MIN_ADDR, vm->mem_size, why,
                            sizeof why) < 0) {
        log_warn("%s/%u: SET_FAULT_HANDLER: %s", vm->name, v->index, why);
        return VIGIL_EINVAL;
    }
    pthread_mutex_lock(&vm->lock);
    boot_write_idt(vm->mem, &vm->boot, entries);
    pthread_mutex_unlock(&vm->lock);
    log_debug("%s: exception handlers armed (vCPU %u)", vm->name, v->index);
    return 0;
}

static int64_t hc_halt(struct vcpu *v, void *arg, uint32_t gpa)
{
    const struct vigil_hc_halt *a = arg;
    char msg[VIGIL_HC_HALT_MSG_MAX + 1];
    (void)gpa;
    guest_message(v, a->msg_gpa, a->msg_len, msg);
    vm_stop_from_vcpu(v, VM_HALTED, a->status, "halted with status %llu%s%s",
                      (unsigned long long)a->status, msg[0] ? ": " : "", msg);
    return 0;
}

static int64_t hc_heartbeat(struct vcpu *v, void *arg, uint32_t gpa)
{
    (void)arg, (void)gpa;
    atomic_fetch_add(&v->vm->heartbeats, 1);
    atomic_store(&v->vm->last_heartbeat_ns, now_ns());
    return 0;
}

static int64_t hc_switch(struct vcpu *v, void *arg, uint32_t gpa)
{
    const struct vigil_hc_switch *a = arg;
    struct hv *hv = v->vm->hv;
    (void)gpa;
    struct vm *target = a->target == VIGIL_ROLE_SERVICE ? hv->service
                        : a->target == VIGIL_ROLE_GUEST ? hv->default_guest
                                                        : NULL;
    if (!target)
        return VIGIL_EINVAL;
    char err[200];
    if (hv_switch_from_vcpu(hv, v, target, "service VM request", now_ns(), err, sizeof err) < 0) {
        log_warn("switch requested by the service VM failed: %s", err);
        return VIGIL_EBUSY;
    }
    return 0;
}

/* ABI v1: a new call is a row here, a handler above, its number and argument structure in
 * include/vigil/hypercall.h and a line in docs/hypercall-abi.md. */
static const struct hypercall calls[VIGIL_HC_COUNT] = {
    [VIGIL_HC_VERSION] = {"VERSION", sizeof(struct vigil_hc_version), HC_ANY, hc_version},
    [VIGIL_HC_CONSOLE_WRITE] = {"CONSOLE_WRITE", sizeof(struct vigil_hc_buf), HC_ANY,
                                hc_console_write},
    [VIGIL_HC_CONSOLE_READ] = {"CONSOLE_READ", sizeof(struct vigil_hc_buf), HC_ANY,
                               hc_console_read},
    [VIGIL_HC_TIME] = {"TIME", sizeof(struct vigil_hc_time), HC_ANY, hc_time},
    [VIGIL_HC_WAIT] = {"WAIT", sizeof(struct vigil_hc_wait), HC_ANY, hc_wait},
    [VIGIL_HC_HALT] = {"HALT", sizeof(struct vigil_hc_halt), HC_ANY, hc_halt, .no_ret = true},
    [VIGIL_HC_HEARTBEAT] = {"HEARTBEAT", sizeof(struct vigil_hc_heartbeat), HC_ANY, hc_heartbeat},
    [VIGIL_HC_SWITCH] = {"SWITCH", sizeof(struct vigil_hc_switch), HC_SERVICE, hc_switch},
    [VIGIL_HC_PANIC] = {"PANIC", sizeof(struct vigil_hc_panic), HC_ANY, hc_panic},
    [VIGIL_HC_SET_FAULT_HANDLER] = {"SET_FAULT_HANDLER", sizeof(struct vigil_hc_fault_handler),
                                    HC_ANY, hc_set_fault_handler},
    [VIGIL_HC_SVC_CALL] = {"SVC_CALL", sizeof(struct vigil_hc_svc_call), HC_SERVICE, hc_svc_call},
};

const struct hypercall_table vigil_hypercalls = {calls, VIGIL_HC_COUNT};

static void port_io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    (void)ctx;
    hypercall_port_io(&vigil_hypercalls, v, io);
}

const struct dev_model hypercall_device = {
    .name = "hypercall",
    .ranges = (const struct dev_range[]){{DEV_PIO, VIGIL_HC_PORT_BASE, VIGIL_HC_PORT_END}},
    .nranges = 1,
    .io = port_io,
};
