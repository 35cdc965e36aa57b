/* virtqueue.c: the driver's half of a split ring: the layout check and taking chains, every
 * guest-written field checked before use. */
#include "devices/virtqueue_int.h"

#include <stdio.h>
#include <string.h>

int vq_fail(struct virtqueue *vq, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vq->error, sizeof vq->error, fmt, ap);
    va_end(ap);
    return -1;
}

void vq_reset(struct virtqueue *vq, uint16_t size)
{
    memset(vq, 0, sizeof *vq);
    vq->size = size;
}

static bool is_pow2(uint32_t n)
{
    return n && !(n & (n - 1));
}

/* Checks one ring area; a NULL return has vq->error set. */
static uint8_t *area(struct virtqueue *vq, const char *what, uint64_t gpa, uint64_t bytes,
                     uint64_t align, bool writable)
{
    const struct guest_mem *m = vq->mem;
    if (gpa & (align - 1)) {
        vq_fail(vq, "%s at 0x%llx is not %llu-byte aligned", what, (unsigned long long)gpa,
                (unsigned long long)align);
        return NULL;
    }
    uint8_t *p = guest_mem_ptr(m, gpa, bytes);
    if (!p) {
        vq_fail(vq, "%s 0x%llx + %llu is outside guest RAM (0x%llx bytes)", what,
                (unsigned long long)gpa, (unsigned long long)bytes, (unsigned long long)m->size);
        return NULL;
    }
    if (writable && !guest_mem_wptr(m, gpa, bytes)) {
        vq_fail(vq, "%s 0x%llx + %llu is in memory the guest may not write", what,
                (unsigned long long)gpa, (unsigned long long)bytes);
        return NULL;
    }
    /* Guest alignment only helps if the host mapping is aligned too (the atomics need it). */
    if ((uintptr_t)p & (align - 1)) {
        vq_fail(vq, "%s: guest RAM's host mapping is misaligned", what);
        return NULL;
    }
    return p;
}

int vq_enable(struct virtqueue *vq, const struct guest_mem *mem, bool event_idx, bool indirect)
{
    vq->ready = false;
    vq->mem = mem;
    if (!is_pow2(vq->size) || vq->size > VQ_SIZE_MAX)
        return vq_fail(vq, "queue size %u is not a power of two in 1..%u", vq->size, VQ_SIZE_MAX);
    vq->desc =
        area(vq, "descriptor table", vq->desc_gpa, VQ_DESC_BYTES(vq->size), VQ_DESC_ALIGN, false);
    if (!vq->desc)
        return -1;
    vq->avail =
        area(vq, "avail ring", vq->avail_gpa, VQ_AVAIL_BYTES(vq->size), VQ_AVAIL_ALIGN, false);
    if (!vq->avail)
        return -1;
    vq->used = area(vq, "used ring", vq->used_gpa, VQ_USED_BYTES(vq->size), VQ_USED_ALIGN, true);
    if (!vq->used)
        return -1;
    vq->event_idx = event_idx;
    vq->indirect = indirect;
    vq->last_avail = vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_valid = false;
    vq->error[0] = '\0';
    vq->ready = true;
    return 0;
}

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

/* Byte loads through a volatile pointer: each byte is read exactly once, whatever the
 * compiler would like to re-read later, and an indirect table needs no alignment. */
static struct desc load_desc(const uint8_t *p)
{
    const volatile uint8_t *v = p;
    uint8_t b[16];
    for (unsigned i = 0; i < sizeof b; i++)
        b[i] = v[i];
    struct desc d = {0, 0, 0, 0};
    for (unsigned i = 0; i < 8; i++)
        d.addr |= (uint64_t)b[i] << (8 * i);
    d.len = (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    d.flags = (uint16_t)(b[12] | b[13] << 8);
    d.next = (uint16_t)(b[14] | b[15] << 8);
    return d;
}

/* Where a walk is, for error messages: "descriptor 7" or "descriptor 2, indirect entry 5". */
struct walk {
    const uint8_t *table;
    uint32_t entries; /* in this table: the bound for next and for the steps taken */
    uint32_t index;
    int outer; /* the main-table descriptor naming the indirect table, or -1 */
    char where[48];
};

static const char *where(struct walk *w)
{
    if (w->outer < 0)
        snprintf(w->where, sizeof w->where, "descriptor %u", w->index);
    else
        snprintf(w->where, sizeof w->where, "descriptor %d, indirect entry %u", w->outer, w->index);
    return w->where;
}

static int enter_indirect(struct virtqueue *vq, struct walk *w, const struct desc *d)
{
    if (w->outer >= 0)
        return vq_fail(vq, "%s: an indirect table inside an indirect table", where(w));
    if (!vq->indirect)
        return vq_fail(vq, "%s: indirect table but VIRTIO_F_INDIRECT_DESC not negotiated",
                       where(w));
    if (d->flags & VIRTQ_DESC_F_NEXT)
        return vq_fail(vq, "%s: both INDIRECT and NEXT set", where(w));
    if (d->len == 0 || d->len % 16)
        return vq_fail(vq, "%s: indirect table length %u is not a nonzero multiple of 16", where(w),
                       d->len);
    if (d->len / 16 > VQ_INDIRECT_MAX)
        return vq_fail(vq, "%s: indirect table of %u entries > %u", where(w), d->len / 16,
                       VQ_INDIRECT_MAX);
    const uint8_t *t = guest_mem_ptr(vq->mem, d->addr, d->len);
    if (!t)
        return vq_fail(vq, "%s: indirect table 0x%llx + len %u is outside guest RAM", where(w),
                       (unsigned long long)d->addr, d->len);
    w->outer = (int)w->index;
    w->table = t;
    w->entries = d->len / 16;
    w->index = 0;
    return 0;
}

static int add_segment(struct virtqueue *vq, struct walk *w, const struct desc *d,
                       struct vq_chain *c)
{
    bool wr = d->flags & VIRTQ_DESC_F_WRITE;
    uint8_t *p =
        wr ? guest_mem_wptr(vq->mem, d->addr, d->len) : guest_mem_ptr(vq->mem, d->addr, d->len);
    if (!p) {
        unsigned long long a = (unsigned long long)d->addr;
        if (d->addr + d->len < d->addr)
            return vq_fail(vq, "%s: address 0x%llx + len %u wraps around", where(w), a, d->len);
        if (guest_mem_ptr(vq->mem, d->addr, d->len))
            return vq_fail(vq,
                           "%s: writable buffer 0x%llx + len %u is in memory the guest "
                           "may not write",
                           where(w), a, d->len);
        return vq_fail(vq, "%s: address 0x%llx + len %u is outside guest RAM (0x%llx bytes)",
                       where(w), a, d->len, (unsigned long long)vq->mem->size);
    }
    if (c->nread + c->nwrite >= c->cap)
        return vq_fail(vq, "chain at head %u has more than %u segments", c->head, c->cap);
    c->iov[c->nread + c->nwrite] = (struct iovec){p, d->len};
    if (wr) {
        c->nwrite++;
        c->write_len += d->len;
    } else {
        c->nread++;
        c->read_len += d->len;
    }
    return 0;
}

/* Follows the chain at c->head.  Each table bounds its own walk: more steps than it has
 * entries means the chain revisits one, so a loop ends here at the latest. */
static int walk_chain(struct virtqueue *vq, struct vq_chain *c)
{
    struct walk w = {vq->desc, vq->size, c->head, -1, ""};
    bool seen_write = false;
    for (uint32_t steps = 0;;) {
        if (++steps > w.entries) {
            if (w.outer < 0)
                return vq_fail(vq, "chain at head %u longer than queue size %u (loop?)", c->head,
                               vq->size);
            return vq_fail(vq,
                           "indirect table of descriptor %d: chain longer than its %u "
                           "entries (loop?)",
                           w.outer, w.entries);
        }
        struct desc d = load_desc(w.table + 16u * w.index);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (enter_indirect(vq, &w, &d) < 0)
                return -1;
            steps = 0;
            continue;
        }
        if (d.flags & VIRTQ_DESC_F_WRITE)
            seen_write = true;
        else if (seen_write)
            return vq_fail(vq, "%s: device-readable buffer after a device-writable one", where(&w));
        if (d.len && add_segment(vq, &w, &d, c) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (d.next >= w.entries)
            return vq_fail(vq, "%s: next %u >= %s %u", where(&w), d.next,
                           w.outer < 0 ? "queue size" : "indirect table entries", w.entries);
        w.index = d.next;
    }
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
    if (!vq->ready)
        return 0;
    /* Acquire: the ring entry and the descriptors are read after the index that made
     * them ours. */
    uint16_t avail_idx = vq_ld16_acquire(vq->avail + 2);
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending > vq->size)
        return vq_fail(vq, "avail idx jumped by %u > queue size %u (idx %u, device at %u)", pending,
                       vq->size, avail_idx, vq->last_avail);
    if (pending == 0)
        return 0;
    unsigned slot = vq->last_avail & (vq->size - 1u);
    uint16_t head = vq_ld16(vq->avail + 4 + 2u * slot);
    if (head >= vq->size)
        return vq_fail(vq, "avail ring[%u]: head %u >= queue size %u", slot, head, vq->size);
    c->head = head;
    c->nread = c->nwrite = 0;
    c->read_len = c->write_len = 0;
    if (walk_chain(vq, c) < 0)
        return -1;
    vq->last_avail++;
    return 1;
}

void vq_unpop(struct virtqueue *vq)
{
    vq->last_avail--;
}
