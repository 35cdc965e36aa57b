/* test_pci_host.c: configuration mechanism 1 as Linux probes it: type 1 check, IDs, BAR sizing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devices/pci_host.h"
#include "devices/pvpanic.h"

static uint32_t cfg_read(struct pci_host *h, unsigned dev, unsigned reg, unsigned size)
{
    pci_host_write(h, PCI_CONF_ADDR, 4, 0x80000000u | (dev << 11) | (reg & 0xfc));
    return pci_host_read(h, (uint16_t)(PCI_CONF_DATA + (reg & 3)), size);
}

static void test_linux_probe_sees_bridge_and_pvpanic(void **state)
{
    (void)state;
    struct pci_host h;
    const struct pci_func *const funcs[] = {&pvpanic_pci_func};
    pci_host_init(&h, funcs, 1);
    /* pci_check_type1(): a byte to 0xcfb, then the address register reads back. */
    pci_host_write(&h, 0xcfb, 1, 0x01);
    pci_host_write(&h, PCI_CONF_ADDR, 4, 0x80000000u);
    assert_int_equal(pci_host_read(&h, PCI_CONF_ADDR, 4), 0x80000000u);
    assert_int_equal(cfg_read(&h, 0, 0x0a, 2), 0x0600); /* a host bridge: the sanity check */
    assert_int_equal(cfg_read(&h, 1, 0x00, 4), 0x00111b36u);
    assert_int_equal(cfg_read(&h, 1, 0x0b, 1), 0x08);
    assert_int_equal(cfg_read(&h, 2, 0x00, 4), 0xffffffffu); /* no device 2 */
    pci_host_write(&h, PCI_CONF_ADDR, 4, 0x00000800u);       /* enable bit clear */
    assert_int_equal(pci_host_read(&h, PCI_CONF_DATA, 4), 0xffffffffu);
    pci_host_write(&h, PCI_CONF_ADDR, 4, 0x80010800u); /* bus 1 */
    assert_int_equal(pci_host_read(&h, PCI_CONF_DATA, 4), 0xffffffffu);
}

static void test_bar_sizing_and_command(void **state)
{
    (void)state;
    struct pci_host h;
    const struct pci_func *const funcs[] = {&pvpanic_pci_func};
    pci_host_init(&h, funcs, 1);
    assert_int_equal(cfg_read(&h, 1, 0x10, 4), PVPANIC_PCI_BAR);
    pci_host_write(&h, PCI_CONF_DATA, 4,
                   0xffffffffu); /* the address register still selects BAR 0 */
    assert_int_equal(pci_host_read(&h, PCI_CONF_DATA, 4), ~(PVPANIC_PCI_SIZE - 1));
    pci_host_write(&h, PCI_CONF_DATA, 4, 0x12345000u); /* a move: the fixed address stays */
    assert_int_equal(pci_host_read(&h, PCI_CONF_DATA, 4), PVPANIC_PCI_BAR);
    pci_host_write(&h, PCI_CONF_ADDR, 4, 0x80000800u | 0x04);
    pci_host_write(&h, PCI_CONF_DATA, 2, 0xffff);
    assert_int_equal(pci_host_read(&h, PCI_CONF_DATA, 2), 0x0547);
    assert_int_equal(cfg_read(&h, 1, 0x00, 2), 0x1b36); /* read-only IDs */
    pci_host_write(&h, PCI_CONF_ADDR, 4, 0x80000800u);
    pci_host_write(&h, PCI_CONF_DATA, 4, 0);
    assert_int_equal(cfg_read(&h, 1, 0x00, 2), 0x1b36);
    assert_int_equal(cfg_read(&h, 0, 0x10, 4), 0); /* the bridge has no BAR */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linux_probe_sees_bridge_and_pvpanic),
        cmocka_unit_test(test_bar_sizing_and_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
