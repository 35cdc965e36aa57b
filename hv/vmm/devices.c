/* devices.c: the per-VM device table: registration with overlap checks, lookup and dispatch. */
#include "vmm/devices.h"

#include <stdio.h>

static const char *space_name(enum dev_space s)
{
    return s == DEV_PIO ? "port" : "MMIO";
}

/* A range of m, other than `self`, sharing an address with r; NULL if none. */
static const struct dev_range *overlap(const struct dev_model *m, const struct dev_range *r,
                                       const struct dev_range *self)
{
    for (uint32_t i = 0; i < m->nranges; i++) {
        const struct dev_range *q = &m->ranges[i];
        if (q != self && q->space == r->space && q->first <= r->last && r->first <= q->last)
            return q;
    }
    return NULL;
}

int devices_register(struct devices *t, const struct dev_model *m, void *ctx, char *err,
                     size_t errlen)
{
    if (!m->io || !m->nranges) {
        snprintf(err, errlen, "device %s: no I/O handler or no ranges", m->name);
        return -1;
    }
    for (uint32_t i = 0; i < m->nranges; i++) {
        const struct dev_range *r = &m->ranges[i];
        if (r->first > r->last || (r->space == DEV_PIO && r->last > 0xffff)) {
            snprintf(err, errlen, "device %s: bad %s range 0x%llx-0x%llx", m->name,
                     space_name(r->space), (unsigned long long)r->first,
                     (unsigned long long)r->last);
            return -1;
        }
        /* Against the device's own other ranges, then every registered device's. */
        const struct dev_model *owner = m;
        const struct dev_range *q = overlap(m, r, r);
        for (uint32_t j = 0; !q && j < t->n; j++)
            if ((q = overlap(t->slot[j].model, r, NULL)))
                owner = t->slot[j].model;
        if (q) {
            snprintf(err, errlen, "device %s: %s range 0x%llx-0x%llx overlaps %s's 0x%llx-0x%llx",
                     m->name, space_name(r->space), (unsigned long long)r->first,
                     (unsigned long long)r->last, owner->name, (unsigned long long)q->first,
                     (unsigned long long)q->last);
            return -1;
        }
    }
    if (t->n == DEVICES_MAX) {
        snprintf(err, errlen, "device %s: the table is full (%d devices)", m->name, DEVICES_MAX);
        return -1;
    }
    t->slot[t->n++] = (struct dev_slot){m, ctx};
    return 0;
}

int devices_attach(struct devices *t, const struct dev_model *m, struct vm *vm, char *err,
                   size_t errlen)
{
    void *ctx = NULL;
    if (m->create && m->create(vm, &ctx, err, errlen) < 0)
        return -1;
    if (devices_register(t, m, ctx, err, errlen) < 0) {
        if (m->destroy)
            m->destroy(ctx);
        return -1;
    }
    return 0;
}

const struct dev_slot *devices_find(const struct devices *t, enum dev_space space, uint64_t addr)
{
    for (uint32_t i = 0; i < t->n; i++) {
        const struct dev_model *m = t->slot[i].model;
        for (uint32_t k = 0; k < m->nranges; k++)
            if (m->ranges[k].space == space && addr >= m->ranges[k].first &&
                addr <= m->ranges[k].last)
                return &t->slot[i];
    }
    return NULL;
}

bool devices_io(const struct devices *t, struct vcpu *v, const struct dev_io *io)
{
    const struct dev_slot *s = devices_find(t, io->space, io->addr);
    if (!s)
        return false;
    s->model->io(s->ctx, v, io);
    return true;
}

void devices_reset(const struct devices *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->slot[i].model->reset)
            t->slot[i].model->reset(t->slot[i].ctx);
}

void devices_release(const struct devices *t)
{
    for (uint32_t i = t->n; i-- > 0;)
        if (t->slot[i].model->release)
            t->slot[i].model->release(t->slot[i].ctx);
}

uint32_t devices_boot_info(const struct devices *t, struct vigil_boot_device *out, uint32_t max)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        const struct vigil_boot_device *b = t->slot[i].model->boot;
        if (!b)
            continue;
        if (count < max)
            out[count] = *b;
        count++;
    }
    return count;
}

void devices_console_input(const struct devices *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (t->slot[i].model->console_input)
            t->slot[i].model->console_input(t->slot[i].ctx);
}

void devices_destroy(struct devices *t)
{
    for (uint32_t i = t->n; i-- > 0;)
        if (t->slot[i].model->destroy)
            t->slot[i].model->destroy(t->slot[i].ctx);
    t->n = 0;
}

uint32_t devices_model_ports(const struct dev_model *const *models, uint32_t n,
                             struct policy_port_owner *out, uint32_t max)
{
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < models[i]->nranges; k++) {
            const struct dev_range *r = &models[i]->ranges[k];
            if (r->space != DEV_PIO)
                continue;
            if (count < max)
                out[count] = (struct policy_port_owner){(uint16_t)r->first, (uint16_t)r->last,
                                                        models[i]->name};
            count++;
        }
    return count;
}
