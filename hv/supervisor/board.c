/* board.c: every VM has COM1, pvpanic and the hypercall ports, the policy may forbid none; a VM
 * with a network (the service VM by default) also has a virtio-net card; a Linux VM a PIT. */
#include "supervisor/board.h"

#include "devices/pci_host.h"
#include "devices/pvpanic.h"
#include "devices/rtc_cmos.h"
#include "devices/uart_dev.h"
#include "devices/virtio_net_mmio.h"
#include "net/nic_config.h"
#include "supervisor/hypercall.h"

/* A new device for every VM is a line here (its model in devices/). The hypercall ports come
 * first: they carry most exits, and the table is searched in this order. */
static const struct dev_model *const devices[] = {
    &hypercall_device,
    &uart_com1_device,
    &pvpanic_device,
};
#define NDEVICES (uint32_t)(sizeof devices / sizeof devices[0])

/* The same and the card: it has no ports, so the policy's reserved list is the same too. */
static const struct dev_model *const devices_nic[] = {
    &hypercall_device,
    &uart_com1_device,
    &pvpanic_device,
    &virtio_net_mmio_device,
};
#define NDEVICES_NIC (uint32_t)(sizeof devices_nic / sizeof devices_nic[0])

/* A Linux guest (--kernel): COM1 on IRQ 4 for its console, the CMOS clock, the pvpanic port; no
 * hypercall ports (Linux makes no calls).  Its PIT is a board option (cfg->pit), its irqchip KVM's.
 */
static const struct dev_model *const devices_linux[] = {
    &uart_com1_device, &rtc_cmos_device, &pvpanic_device, &pci_host_device, &pvpanic_pci_device,
};
#define NDEVICES_LINUX (uint32_t)(sizeof devices_linux / sizeof devices_linux[0])

void board_devices(struct vm_config *cfg)
{
    if (cfg->kernel) {
        cfg->devices = devices_linux;
        cfg->ndevices = NDEVICES_LINUX;
        cfg->pit = true;
        return;
    }
    if (!cfg->nic && cfg->role == VIGIL_ROLE_SERVICE)
        cfg->nic = nic_config_service_default();
    bool nic = cfg->nic && cfg->nic->kind != NIC_NONE;
    cfg->devices = nic ? devices_nic : devices;
    cfg->ndevices = nic ? NDEVICES_NIC : NDEVICES;
}

uint32_t board_reserved_ports(struct policy_port_owner *out, uint32_t max)
{
    return devices_model_ports(devices, NDEVICES, out, max);
}
