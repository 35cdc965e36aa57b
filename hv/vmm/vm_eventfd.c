/* vm_eventfd.c: KVM_IOEVENTFD and KVM_IRQFD, one function each, so that a device's notifications
 * and interrupts bypass the vCPU thread. */
#include "vmm/vm_eventfd.h"

#include <errno.h>
#include <sys/ioctl.h>

int vm_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t len, uint64_t datamatch, int fd, bool assign)
{
    struct kvm_ioeventfd e = {.datamatch = datamatch,
                              .addr = gpa,
                              .len = len,
                              .fd = fd,
                              .flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
                                       (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN)};
    return ioctl(vm->fd, KVM_IOEVENTFD, &e) < 0 ? -errno : 0;
}

int vm_irqfd(struct vm *vm, uint32_t gsi, int fd, int resample_fd, bool assign)
{
    if (!vm->irqchip)
        return -ENODEV;
    struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = gsi};
    if (!assign)
        f.flags = KVM_IRQFD_FLAG_DEASSIGN;
    else if (resample_fd >= 0) {
        f.flags = KVM_IRQFD_FLAG_RESAMPLE;
        f.resamplefd = (uint32_t)resample_fd;
    }
    return ioctl(vm->fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}
