/* platform_fake_int.h: the fake platform's state, shared by its platform_fake*.c files. */
#ifndef VIGIL_PLATFORM_FAKE_INT_H
#define VIGIL_PLATFORM_FAKE_INT_H

#include "platform_fake.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define FAKE_MAX_VMS    32
#define FAKE_MAX_VCPUS  256
#define FAKE_MAX_SLOTS  64
#define FAKE_RUN_SIZE   8192 /* struct kvm_run, then the page port I/O data goes in, as in KVM */
#define FAKE_IO_OFFSET  4096
#define FAKE_MAX_MSRS   32
#define FAKE_BITMAP_MAX KVM_MSR_FILTER_MAX_BITMAP_SIZE
#define FAKE_PAGE       4096ull
#define FAKE_TSC_KHZ    2500000u

/* The MSRs the fake host reports (a subset of what platform_kvm.c asks for). */
extern const uint32_t fk_host_msrs[9];

enum step_kind { STEP_EXIT, STEP_REGS, STEP_RESET, STEP_STORE, STEP_MSR, STEP_ERROR };

struct step {
    struct step *next;
    enum step_kind kind;
    struct kvm_run exit; /* STEP_EXIT: exit_reason and its member of the union */
    uint8_t io[8];       /* STEP_EXIT, KVM_EXIT_IO: the data */
    uint64_t gpa;        /* STEP_STORE: where; STEP_EXIT: where `bytes` land first */
    uint8_t bytes[256];
    size_t nbytes;
    struct kvm_regs regs; /* STEP_REGS */
    uint32_t msr;         /* STEP_MSR */
    bool write;
    uint64_t value; /* STEP_STORE, STEP_MSR */
    int err;        /* STEP_ERROR */
};

struct fvcpu {
    const struct vcpu *owner;
    int vm_handle;
    struct kvm_run *run;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_debugregs dregs;
    struct kvm_guest_debug guest_debug;
    struct kvm_msr_entry msrs[FAKE_MAX_MSRS];
    struct kvm_cpuid2 *cpuid;
    struct step *head, *tail;
    bool kicked; /* remembered until the next run returns EINTR */
    bool in_run, idle;
    pthread_t runner;
};

struct fvm {
    const struct vm *owner;
    struct kvm_userspace_memory_region slots[FAKE_MAX_SLOTS];
    bool used[FAKE_MAX_SLOTS];
    uint64_t msr_exit_reasons; /* KVM_CAP_X86_USER_SPACE_MSR */
    struct kvm_msr_filter filter;
    uint8_t bitmaps[KVM_MSR_FILTER_MAX_RANGES][FAKE_BITMAP_MAX];
    bool irq[32];
    /* KVM_GET/SET_IRQCHIP, _PIT2, _CLOCK: kept as set (the chips by chip_id). */
    struct kvm_irqchip chips[3];
    struct kvm_pit_state2 pit;
    uint64_t clock;
};

struct fake_platform {
    struct platform_ops ops; /* first: hv->platform points here, and so at the whole */
    struct fake_host host;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* any change: a step queued, a kick, a vCPU going idle */
    struct fvm *vms[FAKE_MAX_VMS];
    struct fvcpu *vcpus[FAKE_MAX_VCPUS];
    struct fake_call *calls;
    size_t ncalls, cap;
    struct {
        int err;
        const struct vm *vm; /* NULL: any */
        unsigned countdown;  /* matching calls until the one that fails */
    } fail[FAKE_OP_COUNT];
    unsigned violations;
    char first_violation[256];
};

/* Bookkeeping, with f->lock held (platform_fake.c). */
struct fake_platform *fk_of(const struct hv *hv);
void fk_violation(struct fake_platform *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fk_record(struct fake_platform *f, const struct fake_call *c);
/* An injected failure for the call c is making, consumed. */
bool fk_failing(struct fake_platform *f, enum fake_op op, struct fake_call *c);
/* Records c, drops the lock, sets errno if c failed; c's return code. */
int fk_finish(struct fake_platform *f, struct fake_call *c);
struct fvm *fk_vm_of(struct fake_platform *f, const struct vm *vm);
struct fvcpu *fk_vcpu_of(struct fake_platform *f, const struct vcpu *v);
bool fk_vm_running(struct fake_platform *f, int vm_handle);
/* Takes the lock and starts the record of a VM call; NULL (with the failure noted) if the VM
 * does not exist or the call is to fail. */
struct fvm *fk_vm_begin(struct fake_platform *f, struct vm *vm, enum fake_op op,
                        struct fake_call *c);
/* The same for a vCPU call; state calls from another thread while the vCPU is in `run` are
 * violations. */
struct fvcpu *fk_vcpu_begin(struct fake_platform *f, struct vcpu *v, enum fake_op op,
                            struct fake_call *c);

/* The host, VM and VM-wide state operations (platform_fake_vm.c), and the vCPU ones
 * (platform_fake_vcpu.c), filled into a table. */
void fk_vm_ops(struct platform_ops *o);
void fk_vcpu_ops(struct platform_ops *o);
/* Frees a vCPU's queued steps (platform_fake_vcpu.c). */
void fk_free_steps(struct fvcpu *cpu);

#endif
