/* vm.h: creating a VM, running and parking its vCPUs, and its event and stop bookkeeping. */
#ifndef HV_VM_H
#define HV_VM_H

#include "hv.h"

#include <stddef.h>

/* Creates the KVM VM, its RAM, its vCPUs and loads its image; nothing runs yet. */
int vm_create(struct hv *hv, const struct vm_config *cfg, struct vm **out, char *err, size_t errlen);
void vm_destroy(struct vm *vm);

/* Starts the vCPU threads (boots the VM). */
int vm_start(struct vm *vm, char *err, size_t errlen);

/* Stops every vCPU at an instruction boundary and captures its state into
 * the control structure.  On failure every vCPU runs on as before. */
int vm_park(struct vm *vm, char *err, size_t errlen);
/* Lets parked vCPUs run again; with `restore`, first writes the control
 * structure back into every vCPU (if that fails nothing runs and the VM
 * stays parked).  `stamp` (if nonzero) is recorded as a switch's trigger
 * time when vCPU 0 next enters KVM_RUN. */
int vm_unpark(struct vm *vm, bool restore, uint64_t stamp, char *err, size_t errlen);

/* Marks events pending and wakes any vCPU waiting in the WAIT hypercall. */
void vm_raise_event(struct vm *vm, uint64_t events);
/* Interrupts vCPU v: KVM_RUN returns, a WAIT hypercall returns early. */
void vcpu_kick(struct vcpu *v);

/* Called on a vCPU thread when the VM stops itself (halt, crash): parks all
 * its vCPUs and asks the main loop to finish the job. */
void vm_stop_from_vcpu(struct vcpu *v, enum vm_state why, uint64_t status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Guest-physical range check: a host pointer to [gpa, gpa+len) or NULL. */
void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len);

/* Console output from the VM: ring buffer, plus the terminal if foreground. */
void vm_console_out(struct vm *vm, const void *buf, size_t len);
/* Console input for the VM: queued, the UART and WAIT learn of it. */
size_t vm_console_in(struct vm *vm, const void *buf, size_t len);

/* Installs the vCPU kick signal handler; call once before any vCPU starts. */
void vcpu_signals_init(void);
void *vcpu_thread_main(void *arg);

#endif
