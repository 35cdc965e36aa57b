/* pvpanic.c: the pvpanic port and PCI device: reads give the events hv knows, PANICKED traps. */
#include "devices/pvpanic.h"

#include "base/log.h"
#include "devices/pci_host.h"
#include "vmm/vm.h"

#include <string.h>

#define PVPANIC_PANICKED     0x1u
#define PVPANIC_CRASH_LOADED 0x2u

static void io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    (void)ctx;
    if (!io->write) {
        memset(io->data, 0, (size_t)io->size * io->count);
        io->data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED; /* the events hv understands */
        return;
    }
    if (io->data[0] & PVPANIC_PANICKED)
        vm_trap(v->vm, v, POLICY_EV_PVPANIC, "guest wrote PANICKED (0x%x) to pvpanic %s at vCPU %u",
                io->data[0], io->space == DEV_PIO ? "port 0x505" : "PCI", v->index);
    else if (io->data[0] & PVPANIC_CRASH_LOADED)
        log_warn("%s: pvpanic: guest is loading its own crash kernel", v->vm->name);
}

const struct dev_model pvpanic_device = {
    .name = "pvpanic",
    .ranges = (const struct dev_range[]){{DEV_PIO, PVPANIC_PORT, PVPANIC_PORT}},
    .nranges = 1,
    .io = io,
};

const struct dev_model pvpanic_pci_device = {
    .name = "pvpanic-pci",
    .ranges = (const struct dev_range[]){{DEV_MMIO, PVPANIC_PCI_BAR,
                                          PVPANIC_PCI_BAR + PVPANIC_PCI_SIZE - 1}},
    .nranges = 1,
    .io = io,
};

/* Red Hat's QEMU ID for pvpanic-pci, class "system peripheral, other". */
const struct pci_func pvpanic_pci_func = {0x1b36,          0x0011,          0x08, 0x80, 1,
                                          PVPANIC_PCI_BAR, PVPANIC_PCI_SIZE};
