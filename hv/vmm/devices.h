/* devices.h: a VM's device table: which device answers a port or MMIO exit, and its reset. */
#ifndef HV_DEVICES_H
#define HV_DEVICES_H

#include "policy/policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/hypercall.h>

#define DEVICES_MAX 16 /* devices per VM */

struct vm;
struct vcpu;

enum dev_space {
    DEV_PIO,  /* x86 I/O ports: KVM_EXIT_IO */
    DEV_MMIO, /* guest-physical addresses outside RAM: KVM_EXIT_MMIO */
};

struct dev_range {
    enum dev_space space;
    uint64_t first, last; /* inclusive */
};

/* One exit's access, as the device's handler sees it. */
struct dev_io {
    enum dev_space space;
    uint64_t addr;  /* the port or guest-physical address accessed */
    uint32_t size;  /* bytes per access (1, 2, 4; MMIO up to 8) */
    uint32_t count; /* string I/O (rep ins/outs) repeats: data holds count * size bytes */
    bool write;
    uint8_t *data; /* a write's bytes; a read's result goes here */
};

/*
 * A kind of device: static, shared by every VM that has one.  The table calls `io` on the
 * exiting vCPU's thread, so a device with state shared between vCPUs locks it itself.
 * Only `name`, the ranges and `io` are required.
 */
struct dev_model {
    const char *name; /* "uart": logs, and the policy's refusal to forbid its ports */
    const struct dev_range *ranges;
    uint32_t nranges;
    /* One VM's instance: its state in *ctx (left NULL by a stateless device). 0 or -1 and err. */
    int (*create)(struct vm *vm, void **ctx, char *err, size_t errlen);
    void (*destroy)(void *ctx);
    void (*io)(void *ctx, struct vcpu *v, const struct dev_io *io);
    /* The VM's machine (RAM, KVM VM) was built, at creation or afresh by a reset, and no
     * vCPU runs yet: back to power-on state, on the new RAM. */
    void (*reset)(void *ctx);
    /* The VM's RAM and KVM VM are about to go (reset, release, destroy; no vCPU runs):
     * stop using them until the next reset. */
    void (*release)(void *ctx);
    /* The VM's console input changed (bytes arrived, or another reader took some). */
    void (*console_input)(void *ctx);
    /* What the guest's boot info says of it (a device it must find), or NULL. */
    const struct vigil_boot_device *boot;
};

struct dev_slot {
    const struct dev_model *model;
    void *ctx;
};

/* Filled while the VM is created, before any vCPU runs, and never changed while one does:
 * lookups on vCPU threads take no lock. */
struct devices {
    uint32_t n;
    struct dev_slot slot[DEVICES_MAX];
};

/* Adds a device whose instance state is ctx.  Refused (-1, err names both devices) when a
 * range is empty or overlaps one already in the table, or the table is full. */
int devices_register(struct devices *t, const struct dev_model *m, void *ctx, char *err,
                     size_t errlen);
/* Creates m's instance for vm (m->create) and registers it; destroys it again on refusal. */
int devices_attach(struct devices *t, const struct dev_model *m, struct vm *vm, char *err,
                   size_t errlen);
/* The device whose range holds addr, or NULL. */
const struct dev_slot *devices_find(const struct devices *t, enum dev_space space, uint64_t addr);
/* Hands an access to the device that owns io->addr; false when none does. */
bool devices_io(const struct devices *t, struct vcpu *v, const struct dev_io *io);
void devices_reset(const struct devices *t);
void devices_release(const struct devices *t);
/* The boot info entries of the table's devices, in table order; at most max.  Returns how
 * many there are (more than max if they did not fit). */
uint32_t devices_boot_info(const struct devices *t, struct vigil_boot_device *out, uint32_t max);
void devices_console_input(const struct devices *t);
/* Destroys every instance; the table is empty afterwards. */
void devices_destroy(struct devices *t);

/* The port ranges of the given models, named by model, for the policy (ports it may not
 * forbid); at most max.  Returns how many there are (more than max if they did not fit). */
uint32_t devices_model_ports(const struct dev_model *const *models, uint32_t n,
                             struct policy_port_owner *out, uint32_t max);

#endif
