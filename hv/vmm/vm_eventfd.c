/* vm_eventfd.c: a device's eventfds bound in its VM through the platform (KVM_IOEVENTFD,
 * KVM_IRQFD), so that its notifications and interrupts bypass the vCPU thread. */
#include "vmm/vm_eventfd.h"

#include "vmm/platform.h"

#include <errno.h>

int vm_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t len, uint64_t datamatch, int fd, bool assign)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    struct kvm_ioeventfd e = {.datamatch = datamatch,
                              .addr = gpa,
                              .len = len,
                              .fd = fd,
                              .flags = KVM_IOEVENTFD_FLAG_DATAMATCH |
                                       (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN)};
    if (!p->ioeventfd)
        return -ENOSYS;
    return p->ioeventfd(vm, &e) < 0 ? -errno : 0;
}

int vm_irqfd(struct vm *vm, uint32_t gsi, int fd, int resample_fd, bool assign)
{
    const struct platform_ops *p = hv_platform(vm->hv);
    if (!vm->irqchip)
        return -ENODEV;
    if (!p->irqfd)
        return -ENOSYS;
    struct kvm_irqfd f = {.fd = (uint32_t)fd, .gsi = gsi};
    if (!assign)
        f.flags = KVM_IRQFD_FLAG_DEASSIGN;
    else if (resample_fd >= 0) {
        f.flags = KVM_IRQFD_FLAG_RESAMPLE;
        f.resamplefd = (uint32_t)resample_fd;
    }
    return p->irqfd(vm, &f) < 0 ? -errno : 0;
}
