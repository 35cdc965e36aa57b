/* board.c: every VM has COM1, pvpanic and the hypercall ports; the policy may forbid none. */
#include "supervisor/board.h"

#include "devices/pvpanic.h"
#include "devices/uart_dev.h"
#include "supervisor/hypercall.h"

/* A new device for every VM is a line here (its model in devices/). The hypercall ports come
 * first: they carry most exits, and the table is searched in this order. */
static const struct dev_model *const devices[] = {
    &hypercall_device,
    &uart_com1_device,
    &pvpanic_device,
};
#define NDEVICES (uint32_t)(sizeof devices / sizeof devices[0])

void board_devices(struct vm_config *cfg)
{
    cfg->devices = devices;
    cfg->ndevices = NDEVICES;
}

uint32_t board_reserved_ports(struct policy_port_owner *out, uint32_t max)
{
    return devices_model_ports(devices, NDEVICES, out, max);
}
