/* ring.c: bounded byte queues (grown on demand up to a limit) behind pipes and socketpairs. */
#include "svcos.h"
#include <string.h>

void ring_init(struct ring *r, size_t limit)
{
    memset(r, 0, sizeof *r);
    r->limit = limit;
}

void ring_free(struct ring *r)
{
    kfree(r->buf);
    r->buf = NULL;
    r->cap = r->head = r->len = 0;
}

size_t ring_space(const struct ring *r)
{
    return r->limit - r->len;
}

static int grow(struct ring *r, size_t need)
{
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > r->limit)
        cap = r->limit;
    if (cap <= r->cap)
        return 0;
    unsigned char *nb = kmalloc(cap);
    if (!nb)
        return -1;
    size_t first = r->len < r->cap - r->head ? r->len : r->cap - r->head;
    if (r->len) {
        memcpy(nb, r->buf + r->head, first);
        memcpy(nb + first, r->buf, r->len - first);
    }
    kfree(r->buf);
    r->buf = nb;
    r->cap = cap;
    r->head = 0;
    return 0;
}

size_t ring_put(struct ring *r, const void *data, size_t len)
{
    if (len > ring_space(r))
        len = ring_space(r);
    if (r->len + len > r->cap && grow(r, r->len + len) < 0)
        len = r->cap - r->len;
    const unsigned char *s = data;
    size_t tail = (r->head + r->len) % (r->cap ? r->cap : 1), done = 0;
    while (done < len) {
        size_t n = r->cap - tail < len - done ? r->cap - tail : len - done;
        memcpy(r->buf + tail, s + done, n);
        done += n;
        tail = (tail + n) % r->cap;
    }
    r->len += len;
    return len;
}

size_t ring_get(struct ring *r, void *data, size_t len)
{
    if (len > r->len)
        len = r->len;
    unsigned char *d = data;
    size_t done = 0;
    while (done < len) {
        size_t n = r->cap - r->head < len - done ? r->cap - r->head : len - done;
        if (d)
            memcpy(d + done, r->buf + r->head, n);
        done += n;
        r->head = (r->head + n) % r->cap;
    }
    r->len -= len;
    if (r->len == 0)
        r->head = 0;
    return len;
}
