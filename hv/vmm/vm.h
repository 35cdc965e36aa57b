/* vm.h: creating a VM, running and parking its vCPUs, and its event and stop bookkeeping. */
#ifndef HV_VM_H
#define HV_VM_H

#include "vmm/hv.h"

#include <stddef.h>

/* Creates the KVM VM, its RAM, its vCPUs and loads its image; nothing runs yet. */
int vm_create(struct hv *hv, const struct vm_config *cfg, struct vm **out, char *err,
              size_t errlen);
void vm_destroy(struct vm *vm);

/* Starts the vCPU threads (boots the VM). */
int vm_start(struct vm *vm, char *err, size_t errlen);

/* vm->state read under vm->lock: for threads that hold neither it nor switch_lock. */
enum vm_state vm_get_state(struct vm *vm);

/* Stops every vCPU at an instruction boundary; each then captures its state
 * into the control structure (vm_wait_captured waits for that).  On failure
 * every vCPU runs on as before. */
int vm_park(struct vm *vm, char *err, size_t errlen);
/* Waits until parked vCPUs have filled the control structure; -1 with err
 * if a capture failed. */
int vm_wait_captured(struct vm *vm, char *err, size_t errlen);
/* Lets parked vCPUs run again; with `restore`, first writes the control
 * structure back into each vCPU whose structure was changed, or into every
 * vCPU with --restore-always (if that fails nothing runs and the VM stays
 * parked); KVM holds the rest unchanged.  `stamp` (if nonzero) is recorded as a switch's trigger
 * time when vCPU 0 next enters KVM_RUN. */
int vm_unpark(struct vm *vm, bool restore, uint64_t stamp, char *err, size_t errlen);

/* Marks events pending and wakes any vCPU waiting in the WAIT hypercall. */
void vm_raise_event(struct vm *vm, uint64_t events);
/* Interrupts vCPU v: KVM_RUN returns, a WAIT hypercall returns early.  Takes vm->lock, so that
 * the thread it signals cannot have been joined (vm_teardown); vcpu_kick_locked if held. */
void vcpu_kick(struct vcpu *v);
void vcpu_kick_locked(struct vcpu *v);
/* Injects an NMI into vCPU v now if it can take one, else at its next interrupt window.
 * Runs on v's own thread. */
void vcpu_deliver_nmi(struct vcpu *v);

/* Wakes the main loop (its work eventfd): a request, a finished job, quit. */
void hv_wake_main_loop(struct hv *hv);

/* Asks the main loop to act on the VM (stop, freeze, reset) and parks its
 * vCPUs meanwhile.  `self` is the calling vCPU (NULL from other threads).  The
 * first request wins until the main loop has settled it. */
void vm_request(struct vm *vm, struct vcpu *self, enum vm_request req, enum vm_state result,
                int event, uint64_t sel_id, uint64_t status, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* The VM stopped itself (halt, crash) on vCPU v. */
void vm_stop_from_vcpu(struct vcpu *v, enum vm_state why, uint64_t status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Guest event `ev` on vm (`self`: the vCPU it happened on, or NULL), for the policy through
 * hv->hooks.  Returns whether `self` may continue; false when it has been asked to park. */
bool vm_trap(struct vm *vm, struct vcpu *self, enum policy_event ev, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Discards the VM's vCPUs, RAM and KVM VM and builds them afresh from its
 * image (state VM_CREATED).  Its vCPU threads must be parked or not started. */
int vm_reset(struct vm *vm, char *err, size_t errlen);
/* Ends the vCPU threads and returns the RAM and KVM objects; the struct stays
 * allocated (pointers to it remain valid) in state VM_CREATED. */
void vm_release(struct vm *vm);

/* The memslots over RAM [0, mem_size) with ranges[0..n) read-only: in address order, whatever
 * the order of the ranges (overlapping or touching ones make one slot; parts beyond RAM are
 * dropped).  Writes the slots to out and returns their number, or -1 if more than max (or
 * n > POLICY_MAX_PROTECTED).  Pure: no KVM. */
int vm_slot_layout(uint64_t mem_size, const struct policy_range *ranges, uint32_t n,
                   struct vm_slot *out, uint32_t max);
/* Lays RAM out in memslots with the policy's protected ranges read-only
 * (writes there exit as MMIO and never reach memory).  The VM must not be
 * running.  The service VM is not protected.  If KVM refuses, the VM gets its
 * previous layout back (or, failing that, one read-write slot: never RAM
 * unmapped, unless KVM refuses even that, when vm->nslots is 0) and err says
 * which. */
int vm_arm_protection(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen);
/* One read-write memslot over all of RAM. */
int vm_arm_protection_plain(struct vm *vm, char *err, size_t errlen);
/* The KVM MSR filter refusing pp's forbidden MSRs: one range per policy_msr_windows window,
 * its bitmap in bitmaps[i].  Returns the number of ranges (0: the filter lifts any other), or
 * -1 if the list needs more than KVM_MSR_FILTER_MAX_RANGES.  Pure: no KVM. */
int vm_msr_filter_build(const struct policy_params *pp, struct kvm_msr_filter *f,
                        uint8_t (*bitmaps)[KVM_MSR_FILTER_MAX_BITMAP_SIZE]);
/* Makes RDMSR/WRMSR of the policy's forbidden MSRs exit to hv, and only those: an empty list
 * lifts the filter. */
int vm_arm_msr_filter(struct vm *vm, const struct policy_params *pp, char *err, size_t errlen);
/* The vCPU a crash happened on: the first with fault evidence (a report or lost
 * registers), else 0.  The VM must be parked. */
uint32_t vm_crashed_vcpu(const struct vm *vm);

/* Guest-physical range check: a host pointer to [gpa, gpa+len) or NULL. */
void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len);

/* Console output from the VM: ring buffer, plus the terminal if foreground. */
void vm_console_out(struct vm *vm, const void *buf, size_t len);
/* Console input for the VM: queued, its devices and WAIT learn of it. */
size_t vm_console_in(struct vm *vm, const void *buf, size_t len);
/* Takes up to max bytes of the VM's console input (its devices learn of it). */
size_t vm_console_take(struct vm *vm, void *buf, size_t max);
/* Drives interrupt line `irq` of the VM's in-kernel irqchip (nothing without one). */
void vm_irq_line(struct vm *vm, uint32_t irq, bool level);
/* After the irqchip or a LAPIC was written back (a restoring resume), drives every line hv has
 * driven to its level again, a high one low then high: what a device raised while the VM was
 * parked is in KVM's line state but not in the restored chips (an edge, or a vector in a LAPIC's
 * IRR), and the device, its line already high, raises no new edge.  vCPUs parked. */
void vm_irq_replay(struct vm *vm);

/* Installs the vCPU kick signal handler; call once before any vCPU starts. */
void vcpu_signals_init(void);
void *vcpu_thread_main(void *arg);

#endif
