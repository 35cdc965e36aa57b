/* virtio_fixture.h: guest RAM in a plain buffer and a driver's-eye view of split rings in it. */
#ifndef VIGIL_VIRTIO_FIXTURE_H
#define VIGIL_VIRTIO_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/guest_mem.h"
#include "devices/virtqueue.h"

#define RAM_SIZE  (1u << 20)
#define DESC_GPA  0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA  0x3000u
#define BUF_GPA   0x10000u /* buffers from here on */

static inline struct guest_mem ram_new(void)
{
    uint8_t *p = aligned_alloc(4096, RAM_SIZE);
    assert_non_null(p);
    memset(p, 0, RAM_SIZE);
    return (struct guest_mem){.base = p, .size = RAM_SIZE};
}

static inline void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Descriptor i of the table at table_gpa. */
static inline void set_desc(struct guest_mem *m, uint64_t table_gpa, unsigned i, uint64_t addr,
                            uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *d = m->base + table_gpa + 16u * i;
    put_le(d, addr, 8);
    put_le(d + 8, len, 4);
    put_le(d + 12, flags, 2);
    put_le(d + 14, next, 2);
}

/* The driver side of one queue of `size` entries at base + 0x1000 * k. */
struct drv {
    struct guest_mem *m;
    uint16_t size;
    uint64_t desc, avail, used;
};

static inline struct drv drv_at(struct guest_mem *m, uint16_t size, unsigned k)
{
    uint64_t off = 0x4000ull * k;
    return (struct drv){m, size, DESC_GPA + off, AVAIL_GPA + off, USED_GPA + off};
}

static inline void drv_layout(const struct drv *q, struct virtqueue *vq)
{
    vq->size = q->size;
    vq->desc_gpa = q->desc;
    vq->avail_gpa = q->avail;
    vq->used_gpa = q->used;
}

static inline uint16_t avail_idx(const struct drv *q)
{
    return (uint16_t)get_le(q->m->base + q->avail + 2, 2);
}

static inline void set_avail_idx(const struct drv *q, uint16_t idx)
{
    put_le(q->m->base + q->avail + 2, idx, 2);
}

/* Puts head in the next avail slot and publishes it. */
static inline void drv_add(const struct drv *q, uint16_t head)
{
    uint16_t idx = avail_idx(q);
    put_le(q->m->base + q->avail + 4 + 2u * (idx % q->size), head, 2);
    set_avail_idx(q, (uint16_t)(idx + 1));
}

static inline uint16_t used_idx(const struct drv *q)
{
    return (uint16_t)get_le(q->m->base + q->used + 2, 2);
}

static inline uint32_t used_id(const struct drv *q, uint16_t i)
{
    return (uint32_t)get_le(q->m->base + q->used + 4 + 8u * (i % q->size), 4);
}

static inline uint32_t used_len(const struct drv *q, uint16_t i)
{
    return (uint32_t)get_le(q->m->base + q->used + 8 + 8u * (i % q->size), 4);
}

static inline void set_used_event(const struct drv *q, uint16_t v)
{
    put_le(q->m->base + q->avail + 4 + 2u * q->size, v, 2);
}

static inline uint16_t avail_event(const struct drv *q)
{
    return (uint16_t)get_le(q->m->base + q->used + 4 + 8u * q->size, 2);
}

#endif
