/* hypercall.c: the hypercall dispatcher: number, bounds, alignment and caller checks, once. */
#include "supervisor/hypercall.h"

#include "base/log.h"
#include "supervisor/events.h"
#include "vmm/vm.h"

#include <stdio.h>
#include <string.h>

#define REJECT_LOG_LIMIT 20 /* per VM; later rejections are only counted */

static const char *hc_error_text(int64_t ret)
{
    switch (ret) {
    case VIGIL_EPERM:
        return "EPERM: this VM may not make the call";
    case VIGIL_ENOENT:
        return "ENOENT: no such call (ticket)";
    case VIGIL_ENOSYS:
        return "ENOSYS: not available in this hv";
    case VIGIL_EFAULT:
        return "EFAULT: a buffer lies outside guest RAM";
    case VIGIL_E2BIG:
        return "E2BIG: a length exceeds the call's limit";
    case VIGIL_EINVAL:
        return "EINVAL: a field holds an unsupported value";
    case VIGIL_EBUSY:
        return "EBUSY: the target cannot change state now";
    case VIGIL_ENOTSUP:
        return "ENOTSUP: no common ABI version";
    default:
        return "error";
    }
}

static const struct hypercall *row(const struct hypercall_table *t, unsigned nr)
{
    return nr < t->count && t->calls[nr].fn ? &t->calls[nr] : NULL;
}

void hypercall_reject(const struct hypercall_table *t, struct vcpu *v, unsigned nr, const char *why)
{
    struct vm *vm = v->vm;
    const struct hypercall *c = row(t, nr);
    if (atomic_fetch_add(&vm->bad_hypercalls, 1) < REJECT_LOG_LIMIT)
        log_warn("%s/%u: hypercall %u (%s) rejected: %s", vm->name, v->index, nr,
                 c ? c->name : "unknown", why);
}

bool hypercall_allowed(const struct hypercall *c, const struct vm *vm)
{
    return (unsigned)vm->role < 32 && (c->callers & (1u << vm->role));
}

void hypercall_dispatch(const struct hypercall_table *t, struct vcpu *v, unsigned nr, uint32_t gpa)
{
    const struct hypercall *c = row(t, nr);
    if (!c) {
        hypercall_reject(t, v, nr, "unknown hypercall number");
        return;
    }
    size_t size = c->arg_size;
    if (size > HC_ARG_MAX || size < (c->no_ret ? 0 : sizeof(int64_t))) {
        hypercall_reject(t, v, nr, "hv's table gives it an impossible argument size");
        return;
    }
    uint8_t *arg = vm_gpa(v->vm, gpa, size);
    if (!arg || (gpa & 7)) {
        char why[96];
        snprintf(why, sizeof why, "argument at 0x%x is %s", gpa,
                 arg ? "not 8-byte aligned" : "outside guest RAM");
        hypercall_reject(t, v, nr, why);
        return;
    }
    /* Work on a private copy: the guest's other vCPUs could rewrite it mid-call. */
    union {
        uint64_t align; /* every argument structure is 8-byte aligned */
        uint8_t bytes[HC_ARG_MAX];
    } a;
    memcpy(a.bytes, arg, size);
    bool allowed = hypercall_allowed(c, v->vm);
    int64_t ret = allowed ? c->fn(v, a.bytes, gpa) : VIGIL_EPERM;
    if (!allowed && v->vm->hv) /* a guest reaching for the service VM's calls: a bounded record */
        hv_event_limited(v->vm->hv, v->vm, "forbidden hypercalls", SEL_WARNING, SEL_T_OTHER,
                         "hypercall %s refused: only the service VM may make it", c->name);
    /* EAGAIN is an answer, not a fault: "not yet" (SVC_CALL's queued request). */
    if (ret < 0 && ret != VIGIL_EAGAIN)
        hypercall_reject(t, v, nr, hc_error_text(ret));
    if (c->no_ret)
        return;
    memcpy(a.bytes + size - sizeof ret, &ret, sizeof ret); /* `ret` ends the structure */
    memcpy(arg, a.bytes, size);
}

void hypercall_port_io(const struct hypercall_table *t, struct vcpu *v, const struct dev_io *io)
{
    unsigned nr = (unsigned)(io->addr - VIGIL_HC_PORT_BASE);
    if (io->write && io->size == 4 && io->count == 1) {
        uint32_t gpa;
        memcpy(&gpa, io->data, sizeof gpa);
        hypercall_dispatch(t, v, nr, gpa);
        return;
    }
    if (!io->write)
        memset(io->data, 0xff, (size_t)io->size * io->count);
    hypercall_reject(t, v, nr, "not a 32-bit OUT");
}
