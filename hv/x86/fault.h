/* fault.h: crash evidence: a guest's fault report checked, and a vCPU the host reset told apart. */
#ifndef HV_FAULT_H
#define HV_FAULT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/hypercall.h>

/* Where a crashed vCPU's registers came from; written on its own thread
 * before it parks, read by others once it has. */
struct fault_evidence {
    bool reported; /* a sound fault report: `regs` are the interrupted state */
    bool apply;    /* the reported registers still have to be written into the vCPU */
    bool lost;     /* the host reset the vCPU under hv: what it holds is not the guest's */
    uint32_t vector;
    uint64_t error_code;
    uint64_t cr2; /* #PF only: the faulting address, read from the vCPU */
    struct kvm_regs regs;
};

/* Why registers can be lost; AMD SVM is where it happens (docs/platforms.md). */
#define FAULT_LOST_REASON "the host reset the vCPU on shutdown (AMD SVM)"

/* "#UD", "NMI", ...; "#??" for reserved vectors. */
const char *fault_vector_name(unsigned vector);
/* Whether the CPU pushes an error code for this exception vector. */
bool fault_vector_has_error_code(unsigned vector);

/* Checks a reported frame: an exception vector, the code segment `cs` the
 * handler runs in (delivery never changes privilege), canonical rip and rsp,
 * architecturally possible RFLAGS and error code.  0, or -1 with the reason. */
int fault_frame_check(const struct vigil_fault_frame *f, uint16_t cs, char *why, size_t whylen);
/* The frame's general registers, rip and rflags as KVM registers. */
void fault_frame_regs(const struct vigil_fault_frame *f, struct kvm_regs *r);

/* Checks SET_FAULT_HANDLER's entries: each 0 or an address in guest RAM at or
 * above `min_addr` (hv's own structures lie below).  0, or -1 with the reason. */
int fault_check_entries(const uint64_t *entries, unsigned n, uint64_t min_addr, uint64_t mem_size,
                        char *why, size_t whylen);

/* Whether the registers are the x86 reset state (real mode at 0xf000:0xfff0),
 * which a Vigil guest never runs in: the vCPU was reset under us. */
bool fault_regs_look_reset(const struct kvm_regs *r, const struct kvm_sregs *s);

/* One line for the SEL: "exception #PF (vector 14) at rip 0x..., error code 0x6, cr2 0x...". */
void fault_describe(const struct fault_evidence *e, char *buf, size_t len);

#endif
