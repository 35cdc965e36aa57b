/* mem.c: lwIP's heap (mem_malloc, so every PBUF_RAM pbuf) on svcos's kmalloc, with a byte cap. */
#include "ns.h"

#include <string.h>

/* The cap keeps a flood of connections from taking the VM's memory: lwIP drops what it cannot
 * allocate (TCP retransmits, so a busy stack slows down instead of failing).  Each block
 * carries its size in a 16-byte header so payloads stay 16-byte aligned. */
struct blk {
    size_t size;
    size_t pad;
};

static struct ns_mem_stats st;

void ns_mem_init(void)
{
    struct mem_stats m;
    mem_stats(&m);
    /* Default: a quarter of the VM's memory, at most 256 MiB; netstack.mem_mib= overrides. */
    uint64_t dflt = m.total_pages * PAGE_SIZE / 4;
    if (dflt > (256ull << 20))
        dflt = 256ull << 20;
    st.limit = svcos_cmdline_u64("netstack.mem_mib", dflt >> 20) << 20;
}

void *netstack_mem_alloc(size_t size)
{
    if (size > st.limit || st.bytes + size > st.limit) {
        st.failures++;
        return NULL;
    }
    struct blk *b = kmalloc(sizeof *b + size);
    if (!b) {
        st.failures++;
        return NULL;
    }
    b->size = size;
    st.bytes += size;
    st.blocks++;
    if (st.bytes > st.peak)
        st.peak = st.bytes;
    return b + 1;
}

void *netstack_mem_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = netstack_mem_alloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void netstack_mem_free(void *p)
{
    if (!p)
        return;
    struct blk *b = (struct blk *)p - 1;
    st.bytes -= b->size;
    st.blocks--;
    kfree(b);
}

void ns_mem_stats(struct ns_mem_stats *out)
{
    *out = st;
}
