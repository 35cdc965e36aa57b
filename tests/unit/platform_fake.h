/* platform_fake.h: a test backend for vmm/platform.h: scripted exits, stored state, every call
 * recorded. */
#ifndef VIGIL_PLATFORM_FAKE_H
#define VIGIL_PLATFORM_FAKE_H

#include "vmm/platform.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The fake stands where /dev/kvm would: RAM is hv's own allocation, memslots and MSR filters are
 * kept and checked with KVM's rules, registers and the rest of a vCPU's state are stored, and
 * `run` plays a per-vCPU script the test queues (an exit, a register change, a guest store or
 * MSR access resolved against the current memslots and filter), blocking when the script is
 * empty until the test queues more or hv kicks the vCPU.  Every call is recorded, so a test
 * asserts what hv asked of "KVM"; calls hv must never make (a vCPU's state touched, or its
 * VM's memslots changed, while it is inside `run` on its own thread; a vCPU destroyed while
 * its thread still runs it; a slot outside the VM's RAM) count as violations.
 */

enum fake_op {
    FAKE_OPEN,
    FAKE_CLOSE,
    FAKE_CREATE_VM,
    FAKE_DESTROY_VM,
    FAKE_GET_TSC_KHZ,
    FAKE_SET_MEMSLOT,
    FAKE_ENABLE_CAP,
    FAKE_SET_MSR_FILTER,
    FAKE_IRQ_LINE,
    FAKE_CREATE_VCPU,
    FAKE_DESTROY_VCPU,
    FAKE_SET_CPUID,
    FAKE_RUN,
    FAKE_KICK,
    FAKE_NMI,
    FAKE_GET_REGS,
    FAKE_SET_REGS,
    FAKE_GET_SREGS,
    FAKE_SET_SREGS,
    FAKE_GET_FPU,
    FAKE_SET_FPU,
    FAKE_GET_XSAVE,
    FAKE_SET_XSAVE,
    FAKE_GET_XCRS,
    FAKE_SET_XCRS,
    FAKE_GET_MSRS,
    FAKE_SET_MSRS,
    FAKE_GET_LAPIC,
    FAKE_SET_LAPIC,
    FAKE_GET_EVENTS,
    FAKE_SET_EVENTS,
    FAKE_GET_MP_STATE,
    FAKE_SET_MP_STATE,
    FAKE_GET_DEBUGREGS,
    FAKE_SET_DEBUGREGS,
    FAKE_GET_IRQCHIP,
    FAKE_SET_IRQCHIP,
    FAKE_GET_PIT,
    FAKE_SET_PIT,
    FAKE_GET_CLOCK,
    FAKE_SET_CLOCK,
    FAKE_KVMCLOCK_CTRL,
    FAKE_SET_GUEST_DEBUG,
    FAKE_OP_COUNT
};
const char *fake_op_name(enum fake_op op);

/* One call hv made. */
struct fake_call {
    enum fake_op op;
    const struct vm *vm; /* the VM, or the vCPU's VM; NULL for host calls */
    int vcpu;            /* the vCPU's index, -1 for VM and host calls */
    int rc, err;         /* what it returned; errno when rc < 0 */
    union {
        struct kvm_userspace_memory_region slot; /* SET_MEMSLOT */
        struct kvm_regs regs;                    /* SET_REGS */
        struct kvm_irq_level irq;                /* IRQ_LINE */
        struct kvm_enable_cap cap;               /* ENABLE_CAP */
        struct {
            uint32_t flags, nranges;
            uint32_t base[KVM_MSR_FILTER_MAX_RANGES];
        } filter;             /* SET_MSR_FILTER */
        uint32_t exit_reason; /* RUN that returned 0 */
        bool immediate_exit;  /* RUN that returned -1: immediate_exit was set */
    } u;
};

/* What the fake host offers (fake_new(NULL) offers everything). */
struct fake_host {
    bool irqchip, readonly_mem, xsave, xcrs, debugregs, vcpu_events;
    uint32_t tsc_khz;
};

struct fake_platform;

struct fake_platform *fake_new(const struct fake_host *host);
void fake_free(struct fake_platform *f);
/* What to put in hv->platform. */
const struct platform_ops *fake_ops(struct fake_platform *f);

/* The script of vCPU v, played by its `run` calls in order.  An exit returns from `run` with
 * v->run filled in (ready_for_interrupt_injection set); the other steps change the guest and
 * go on to the next. */
void fake_exit(struct fake_platform *f, const struct vcpu *v, uint32_t reason);
void fake_exit_io(struct fake_platform *f, const struct vcpu *v, uint16_t port, uint8_t direction,
                  uint8_t size, uint32_t value);
void fake_exit_mmio(struct fake_platform *f, const struct vcpu *v, uint64_t gpa, bool is_write,
                    uint32_t len, uint64_t value);
/* A hypercall: the argument structure lands at gpa as the vCPU takes the exit (a guest's other
 * vCPUs cannot race the test that way), then an OUT of gpa to its port. */
void fake_hypercall(struct fake_platform *f, const struct vcpu *v, unsigned nr, uint32_t gpa,
                    const void *arg, size_t len);
/* The guest's registers change (it ran on), without an exit. */
void fake_guest_regs(struct fake_platform *f, const struct vcpu *v, const struct kvm_regs *r);
/* The vCPU is left in the x86 reset state, as AMD's KVM leaves it after a triple fault. */
void fake_guest_reset(struct fake_platform *f, const struct vcpu *v);
/* A guest store of len (<= 8) bytes: into RAM through a writable memslot, else an MMIO exit. */
void fake_guest_store(struct fake_platform *f, const struct vcpu *v, uint64_t gpa, uint64_t value,
                      uint32_t len);
/* RDMSR/WRMSR: an exit if the VM's MSR filter denies it and MSR exits are on, else done. */
void fake_guest_msr(struct fake_platform *f, const struct vcpu *v, uint32_t msr, bool write,
                    uint64_t value);
/* `run` fails with errno err. */
void fake_run_error(struct fake_platform *f, const struct vcpu *v, int err);

/* Waits until v has played its whole script and blocks in `run` again; false on timeout. */
bool fake_wait_idle(struct fake_platform *f, const struct vcpu *v, int timeout_ms);
/* Whether v's thread is inside `run` now. */
bool fake_in_run(struct fake_platform *f, const struct vcpu *v);

/* The next call of op fails with errno err (once); or the nth next one on vm (NULL: any). */
void fake_fail(struct fake_platform *f, enum fake_op op, int err);
void fake_fail_at(struct fake_platform *f, enum fake_op op, const struct vm *vm, unsigned nth,
                  int err);

/* The record.  vm NULL and vcpu -1 match any. */
size_t fake_ncalls(struct fake_platform *f);
struct fake_call fake_call_at(struct fake_platform *f, size_t i);
size_t fake_count(struct fake_platform *f, enum fake_op op, const struct vm *vm, int vcpu);
/* The index of the first matching call at or after `from`, or SIZE_MAX. */
size_t fake_find(struct fake_platform *f, enum fake_op op, const struct vm *vm, int vcpu,
                 size_t from);
void fake_forget(struct fake_platform *f);

/* The state "KVM" holds now. */
int fake_slots(struct fake_platform *f, const struct vm *vm,
               struct kvm_userspace_memory_region *out, int max); /* sorted by address */
struct kvm_regs fake_regs(struct fake_platform *f, const struct vcpu *v);
struct kvm_sregs fake_sregs(struct fake_platform *f, const struct vcpu *v);
uint32_t fake_cpuid_ebx(struct fake_platform *f, const struct vcpu *v, uint32_t leaf);
bool fake_irq_level(struct fake_platform *f, const struct vm *vm, uint32_t irq);

/* Calls hv should never have made: how many, and the first one's description. */
unsigned fake_violations(struct fake_platform *f);
const char *fake_first_violation(struct fake_platform *f);
/* Forgets them (for a test that commits one on purpose). */
void fake_clear_violations(struct fake_platform *f);

#endif
