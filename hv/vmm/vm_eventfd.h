/* vm_eventfd.h: a VM's eventfd bindings in KVM: guest writes that signal an eventfd without an
 * exit (ioeventfd), and eventfds that raise an interrupt line (irqfd). */
#ifndef HV_VM_EVENTFD_H
#define HV_VM_EVENTFD_H

#include "vmm/hv.h"

#include <stdbool.h>
#include <stdint.h>

/* Binds (assign) or unbinds a guest write of `len` bytes of value `datamatch` at MMIO address
 * gpa to eventfd fd: KVM completes the write and signals fd, the vCPU does not exit.
 * 0, or -errno. */
int vm_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t len, uint64_t datamatch, int fd,
                 bool assign);
/* Binds (assign) or unbinds eventfd fd to line gsi of the in-kernel irqchip: a write to fd
 * asserts the line.  With resample_fd >= 0 the line is level-triggered: it stays asserted
 * until the guest's EOI, when KVM lowers it and signals resample_fd (the device then raises
 * fd again if it still wants the interrupt).  0, or -errno (-ENODEV without an irqchip). */
int vm_irqfd(struct vm *vm, uint32_t gsi, int fd, int resample_fd, bool assign);

#endif
