/* pci_host.c: PCI configuration mechanism 1 over a fixed bus 0: a host bridge and its functions. */
#include "devices/pci_host.h"

#include "devices/pvpanic.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_ENABLE  0x80000000u
#define CMD_WRITABLE 0x0547u /* I/O, memory, bus master, parity, SERR, INTx disable */
#define HOST_BRIDGE                                                                                \
    {                                                                                              \
        0x1b36, 0x0008, 0x06, 0x00, 1, 0, 0                                                        \
    } /* QEMU's generic host bridge ID */

static void put(uint8_t *p, uint32_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get(const uint8_t *p, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

static void header(uint8_t *c, const struct pci_func *f)
{
    memset(c, 0, 256);
    put(c + 0x00, f->vendor, 2);
    put(c + 0x02, f->device, 2);
    c[0x08] = f->revision;
    c[0x0a] = f->subclass;
    c[0x0b] = f->class_code;
    put(c + 0x10, f->bar0, 4); /* memory, 32-bit, not prefetchable */
    put(c + 0x2c, 0x1af4, 2);  /* subsystem: as QEMU's devices have it */
    put(c + 0x2e, 0x1100, 2);
}

void pci_host_init(struct pci_host *h, const struct pci_func *const *funcs, uint32_t n)
{
    static const struct pci_func bridge = HOST_BRIDGE;
    memset(h, 0, sizeof *h);
    header(h->cfg[0], &bridge);
    h->nfuncs = 1;
    for (uint32_t i = 0; i < n && h->nfuncs < PCI_MAX_FUNCS; i++, h->nfuncs++) {
        header(h->cfg[h->nfuncs], funcs[i]);
        h->bar0[h->nfuncs] = funcs[i]->bar0;
        h->bar0_size[h->nfuncs] = funcs[i]->bar0_size;
    }
}

/* The configuration space the address register selects, or NULL (disabled, another bus, an
 * absent device or function). */
static uint8_t *selected(struct pci_host *h)
{
    uint32_t bus = (h->addr >> 16) & 0xff, dev = (h->addr >> 11) & 0x1f, fn = (h->addr >> 8) & 7;
    if (!(h->addr & ADDR_ENABLE) || bus || fn || dev >= h->nfuncs)
        return NULL;
    return h->cfg[dev];
}

uint32_t pci_host_read(struct pci_host *h, uint16_t port, uint32_t size)
{
    if (port < PCI_CONF_DATA)
        return size == 4 && port == PCI_CONF_ADDR ? h->addr : 0xffffffffu;
    uint8_t *c = selected(h);
    unsigned off = (h->addr & 0xfc) + (port - PCI_CONF_DATA);
    if (!c || off + size > 256)
        return 0xffffffffu;
    return get(c + off, size);
}

void pci_host_write(struct pci_host *h, uint16_t port, uint32_t size, uint32_t value)
{
    if (port < PCI_CONF_DATA) {
        if (size == 4 && port == PCI_CONF_ADDR)
            h->addr = value & 0x80fffffcu;
        return; /* byte writes to 0xcfb (a chipset's mode register) change nothing */
    }
    uint8_t *c = selected(h);
    unsigned off = (h->addr & 0xfc) + (port - PCI_CONF_DATA);
    if (!c || off + size > 256)
        return;
    for (unsigned i = 0; i < size; i++) {
        unsigned at = off + i;
        uint8_t b = (uint8_t)(value >> (8 * i));
        if (at == 0x04 || at == 0x05) {
            uint8_t keep = (uint8_t)(CMD_WRITABLE >> (8 * (at - 4)));
            c[at] = (uint8_t)((c[at] & ~keep) | (b & keep));
        } else if (at == 0x3c) {
            c[at] = b; /* interrupt line: the guest's note to itself */
        }
    }
    /* BAR 0: all ones asks for its size; any other value puts back the fixed address (hv's
     * device table cannot move a device), which the guest reads back and keeps. */
    unsigned fn = (unsigned)((c - h->cfg[0]) / 256);
    if (off == 0x10 && size == 4 && h->bar0_size[fn])
        put(c + 0x10, value == 0xffffffffu ? ~(h->bar0_size[fn] - 1) : h->bar0[fn], 4);
}

struct host_dev {
    pthread_mutex_t lock; /* vCPUs share the address register */
    struct pci_host host;
};

static int create(struct vm *vm, void **ctx, char *err, size_t errlen)
{
    (void)vm;
    struct host_dev *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "pci: out of memory");
        return -1;
    }
    pthread_mutex_init(&d->lock, NULL);
    *ctx = d;
    return 0;
}

static void destroy(void *ctx)
{
    struct host_dev *d = ctx;
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static void io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    struct host_dev *d = ctx;
    (void)v;
    pthread_mutex_lock(&d->lock);
    for (uint32_t i = 0; i < io->count; i++) {
        uint8_t *p = io->data + (size_t)i * io->size;
        if (io->write)
            pci_host_write(&d->host, (uint16_t)io->addr, io->size, get(p, io->size));
        else
            put(p, pci_host_read(&d->host, (uint16_t)io->addr, io->size), io->size);
    }
    pthread_mutex_unlock(&d->lock);
}

static void reset(void *ctx)
{
    struct host_dev *d = ctx;
    const struct pci_func *const funcs[] = {&pvpanic_pci_func};
    pthread_mutex_lock(&d->lock);
    pci_host_init(&d->host, funcs, 1);
    pthread_mutex_unlock(&d->lock);
}

const struct dev_model pci_host_device = {
    .name = "pci",
    .ranges = (const struct dev_range[]){{DEV_PIO, PCI_CONF_ADDR, PCI_CONF_DATA + 3}},
    .nranges = 1,
    .create = create,
    .destroy = destroy,
    .io = io,
    .reset = reset,
};
