/* guest_mem.h: a VM's RAM as a device model sees it: bounds-checked guest-physical ranges. */
#ifndef HV_GUEST_MEM_H
#define HV_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

/* Guest RAM is one flat region at guest-physical 0 (hv maps it so, struct vm's mem and
 * mem_size).  may_write, if set, refuses device writes the guest itself could not make
 * (the policy's read-only protected ranges), so a device never writes around them. */
struct guest_mem {
    uint8_t *base;
    uint64_t size;
    bool (*may_write)(void *ctx, uint64_t gpa, uint64_t len);
    void *ctx;
};

/* The host address of [gpa, gpa + len), or NULL if any byte of it is outside RAM
 * (addition that wraps counts as outside).  len 0 is inside when gpa <= size. */
uint8_t *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* As guest_mem_ptr, and NULL also where may_write refuses the range. */
uint8_t *guest_mem_wptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif
