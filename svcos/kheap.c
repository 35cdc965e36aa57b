/* kheap.c: svcos's own small-object allocator (power-of-two classes carved from pages), independent
 * of musl's malloc. */
#include "svcos.h"
#include <string.h>

/* Every block starts with a 16-byte header, so payloads stay 16-byte aligned.
 * Classes hold blocks of 32 .. 4096 bytes (header included); bigger requests
 * get whole pages. */
#define KH_MAGIC   0x6b68u
#define KH_CLASSES 8 /* 32 << 0 .. 32 << 7 */
#define KH_BIG     0xffu

struct kh_hdr {
    uint16_t magic;
    uint8_t cls;
    uint8_t pad[5];
    uint64_t npages; /* KH_BIG blocks */
};
struct kh_free {
    struct kh_hdr hdr;
    struct kh_free *next;
};

static struct kh_free *free_list[KH_CLASSES];

static int class_of(size_t total)
{
    for (int c = 0; c < KH_CLASSES; c++)
        if (total <= (32ul << c))
            return c;
    return -1;
}

static int refill(int c)
{
    size_t bsize = 32ul << c;
    size_t chunk = bsize < 1024 ? 4 * PAGE_SIZE : 16 * PAGE_SIZE;
    unsigned char *p = pages_alloc(chunk / PAGE_SIZE);
    if (!p)
        return -1;
    for (size_t off = 0; off + bsize <= chunk; off += bsize) {
        struct kh_free *b = (struct kh_free *)(p + off);
        b->next = free_list[c];
        free_list[c] = b;
    }
    return 0;
}

void *kmalloc(size_t n)
{
    if (n > (1ull << 40))
        return NULL;
    size_t total = n + sizeof(struct kh_hdr);
    int c = class_of(total);
    struct kh_hdr *h;
    if (c < 0) {
        size_t np = PAGE_UP(total) / PAGE_SIZE;
        h = pages_alloc(np);
        if (!h)
            return NULL;
        h->cls = KH_BIG;
        h->npages = np;
    } else {
        if (!free_list[c] && refill(c) < 0)
            return NULL;
        struct kh_free *b = free_list[c];
        free_list[c] = b->next;
        h = &b->hdr;
        h->cls = (uint8_t)c;
    }
    h->magic = KH_MAGIC;
    return h + 1;
}

void *kzalloc(size_t n)
{
    void *p = kmalloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void kfree(void *p)
{
    if (!p)
        return;
    struct kh_hdr *h = (struct kh_hdr *)p - 1;
    if (h->magic != KH_MAGIC)
        kpanic("kfree: bad block %p", p);
    h->magic = 0;
    if (h->cls == KH_BIG) {
        pages_free(h, h->npages);
        return;
    }
    struct kh_free *b = (struct kh_free *)h;
    b->next = free_list[h->cls];
    free_list[h->cls] = b;
}

char *kstrndup(const char *s, size_t n)
{
    char *d = kmalloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}
