/* vm_linux.h: a VM booted from a Linux bzImage (--kernel): its load and its vCPUs' start. */
#ifndef HV_VM_LINUX_H
#define HV_VM_LINUX_H

#include "vmm/hv.h"

#include <stdbool.h>
#include <stddef.h>

/* Reads --kernel and --initrd, loads them with the --append command line (x86/bzimage.h) and
 * writes the MP table for the VM's vCPUs.  0, or -1 with a message naming the file and the
 * problem. */
int vm_linux_load(struct vm *vm, char *err, size_t errlen);
/* What Linux needs of CPUID beyond what KVM supports: the hypervisor bit (so it looks for
 * KVM's leaves at 0x40000000 and kvm-clock), vCPU `index`'s x2APIC ID, the TSC-deadline timer
 * if `tsc_deadline` (the in-kernel LAPIC has it); XSAVE hidden. */
void vm_linux_cpuid(struct kvm_cpuid2 *cpuid, uint32_t index, bool tsc_deadline);
/* Starts vCPU v of a Linux VM: the boot vCPU at the 64-bit entry, the others left waiting for
 * INIT/SIPI as the in-kernel LAPIC has them; every LAPIC with ExtINT on LINT0 and NMI on LINT1
 * (the virtual-wire setup a BIOS leaves). */
int vm_linux_vcpu(struct vcpu *v, char *err, size_t errlen);

#endif
