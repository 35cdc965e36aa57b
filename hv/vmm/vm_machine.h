/* vm_machine.h: a VM's machine state outside its vCPUs (irqchip, PIT, kvm-clock), kept across a
 * switch. */
#ifndef HV_VM_MACHINE_H
#define HV_VM_MACHINE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

/*
 * What KVM keeps per VM rather than per vCPU, and a Linux guest needs back as it was: the two
 * PICs and the I/O APIC (pins, masks, pending edges), the PIT's channels, and kvm-clock's base
 * (the guest's idea of "now").  The LAPICs are per vCPU (struct vcpu_state).  Captured with
 * every vCPU parked; written back with the vCPUs' own state when a resume restores it.
 * The main loop's own (under switch_lock, with the VM's vCPUs parked).
 */
struct vm_machine {
    struct kvm_irqchip chips[3]; /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
    bool has_irqchip, has_pit, has_clock;
    uint64_t captured_ns; /* CLOCK_MONOTONIC at the capture */
};

/* Reads what vm has of the above into vm->machine (what the backend or the VM lacks is left
 * out).  Returns 0, or -1 with the failing call named in err. */
int vm_machine_capture(struct vm *vm, char *err, size_t errlen);

/* Writes vm->machine back.  kvm-clock is moved on by the time since the capture: guest time
 * keeps running while the guest is frozen, as the wall clock does. */
int vm_machine_restore(struct vm *vm, char *err, size_t errlen);

/* Tells a parked vCPU's guest that it was stopped (KVM_KVMCLOCK_CTRL), so its soft-lockup
 * watchdog does not count the pause; a guest without kvm-clock is left alone.  On the vCPU's
 * own thread. */
void vm_machine_note_stop(struct vcpu *v);

#endif
