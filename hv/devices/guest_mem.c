/* guest_mem.c: guest-physical range checks that no guest-chosen address or length can defeat. */
#include "devices/guest_mem.h"

#include <stddef.h>

uint8_t *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    /* Written as two comparisons so that gpa + len is never computed: it may wrap. */
    if (!m->base || len > m->size || gpa > m->size - len)
        return NULL;
    return m->base + gpa;
}

uint8_t *guest_mem_wptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    uint8_t *p = guest_mem_ptr(m, gpa, len);
    if (p && m->may_write && !m->may_write(m->ctx, gpa, len))
        return NULL;
    return p;
}
