/* virtqueue_int.h: single-access loads and stores of guest ring memory, for virtqueue*.c. */
#ifndef HV_VIRTQUEUE_INT_H
#define HV_VIRTQUEUE_INT_H

#include "devices/virtqueue.h"

#include <stdarg.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio 1.x rings are little-endian; these accessors assume a little-endian host"
#endif

/* The guest writes its rings while we read them.  Ring indices and flags are read with one
 * aligned atomic access each, so a 16-bit index is never seen half old, half new; the areas'
 * alignment is checked by vq_enable.  Each value is read once into a local and only the
 * local is checked and used, so the guest cannot change it between check and use. */
static inline uint16_t vq_ld16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline uint16_t vq_ld16_acquire(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_ACQUIRE);
}

static inline void vq_st16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static inline void vq_st16_release(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static inline void vq_st32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/* avail: flags, idx, ring[size], used_event.  used: flags, idx, ring[size] of {id, len},
 * avail_event. */
static inline uint8_t *vq_used_event(const struct virtqueue *vq)
{
    return vq->avail + 4 + 2u * vq->size;
}

static inline uint8_t *vq_avail_event(const struct virtqueue *vq)
{
    return vq->used + 4 + 8u * vq->size;
}

int vq_fail(struct virtqueue *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
