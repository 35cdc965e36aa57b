/* pages.c: the physical page allocator: a bitmap over the FREE regions of hv's memory map, top-down
 * first fit. */
#include "svcos.h"
#include <errno.h>
#include <string.h>

/* One bit per 4 KiB page of guest RAM: `used` is set for pages that are not
 * free (outside FREE regions, or allocated); `dirty` for pages that were ever
 * handed out, so that untouched pages (zero from hv) need no clearing. */
static uint64_t *used, *dirty;
static size_t npages_ram, nwords;
static uint64_t total_free, in_use, peak;
static struct {
    uintptr_t base, end;
} free_regions[VIGIL_BOOT_MMAP_MAX];
static unsigned nfree_regions;
static size_t search_top; /* page index just above the highest possibly free page */

static int test_bit(const uint64_t *map, size_t i)
{
    return (map[i / 64] >> (i % 64)) & 1;
}
static void set_bits(uint64_t *map, size_t i, size_t n, int value)
{
    for (; n && i % 64; i++, n--)
        map[i / 64] = value ? map[i / 64] | (1ull << (i % 64)) : map[i / 64] & ~(1ull << (i % 64));
    for (; n >= 64; i += 64, n -= 64)
        map[i / 64] = value ? ~0ull : 0;
    for (; n; i++, n--)
        map[i / 64] = value ? map[i / 64] | (1ull << (i % 64)) : map[i / 64] & ~(1ull << (i % 64));
}

void mem_setup(const struct vigil_boot_info *bi)
{
    npages_ram = bi->mem_size / PAGE_SIZE;
    nwords = (npages_ram + 63) / 64;
    size_t map_bytes = PAGE_UP(nwords * 8);
    /* Both bitmaps go at the top of the largest FREE region. */
    const struct vigil_mem_region *best = NULL;
    for (uint32_t i = 0; i < bi->mmap_count && i < VIGIL_BOOT_MMAP_MAX; i++) {
        const struct vigil_mem_region *r = &bi->mmap[i];
        if (r->type != VIGIL_MEM_FREE)
            continue;
        uintptr_t b = PAGE_UP(r->base), e = PAGE_DOWN(r->base + r->len);
        if (e <= b)
            continue;
        free_regions[nfree_regions].base = b;
        free_regions[nfree_regions].end = e;
        nfree_regions++;
        if (!best || r->len > best->len)
            best = r;
    }
    if (!best || best->len < 4 * map_bytes)
        hv_halt(2, "svcos: no usable FREE region in the boot memory map");
    uintptr_t maps = PAGE_DOWN(best->base + best->len) - 2 * map_bytes;
    used = (uint64_t *)maps;
    dirty = (uint64_t *)(maps + map_bytes);
    memset(used, 0xff, nwords * 8);
    memset(dirty, 0, nwords * 8);
    for (unsigned i = 0; i < nfree_regions; i++) {
        size_t first = free_regions[i].base / PAGE_SIZE,
               n = (free_regions[i].end - free_regions[i].base) / PAGE_SIZE;
        set_bits(used, first, n, 0);
        total_free += n;
        if (first + n > search_top)
            search_top = first + n;
    }
    set_bits(used, maps / PAGE_SIZE, 2 * map_bytes / PAGE_SIZE, 1);
    set_bits(dirty, maps / PAGE_SIZE, 2 * map_bytes / PAGE_SIZE, 1);
    total_free -= 2 * map_bytes / PAGE_SIZE;
}

static void take(size_t first, size_t n)
{
    set_bits(used, first, n, 1);
    for (size_t i = first; i < first + n; i++) {
        if (!test_bit(dirty, i))
            continue;
        size_t j = i;
        while (j < first + n && test_bit(dirty, j))
            j++;
        memset((void *)(i * PAGE_SIZE), 0, (j - i) * PAGE_SIZE);
        i = j;
    }
    set_bits(dirty, first, n, 1);
    in_use += n;
    if (in_use > peak)
        peak = in_use;
}

void *pages_alloc(size_t n)
{
    if (n == 0 || n > total_free - in_use)
        return NULL;
    /* Scan down from the top for a run of n free pages, a word at a time
     * where whole words are used. */
    size_t run = 0;
    for (size_t i = search_top; i-- > 0;) {
        if (i % 64 == 63 && used[i / 64] == ~0ull && i >= 63) {
            run = 0;
            i -= 63;
            continue;
        }
        if (test_bit(used, i)) {
            run = 0;
            continue;
        }
        if (++run == n) {
            take(i, n);
            return (void *)(i * PAGE_SIZE);
        }
    }
    return NULL;
}

int mem_range_ok(uintptr_t addr, size_t len)
{
    if (addr % PAGE_SIZE || addr + len < addr)
        return 0;
    for (unsigned i = 0; i < nfree_regions; i++)
        if (addr >= free_regions[i].base && addr + len <= free_regions[i].end)
            return 1;
    return 0;
}

void pages_free(void *p, size_t n)
{
    size_t first = (uintptr_t)p / PAGE_SIZE;
    for (size_t i = first; i < first + n && i < npages_ram; i++) {
        if (test_bit(used, i)) {
            set_bits(used, i, 1, 0);
            in_use--;
        }
    }
}

/* Claims exactly [addr, addr + n pages) if every page there is free. */
int pages_claim(uintptr_t addr, size_t n)
{
    if (!mem_range_ok(addr, n * PAGE_SIZE))
        return -EINVAL;
    size_t first = addr / PAGE_SIZE;
    for (size_t i = first; i < first + n; i++)
        if (test_bit(used, i))
            return -ENOMEM;
    take(first, n);
    return 0;
}

/* Marks [addr, +n pages) allocated whatever it held before (MAP_FIXED), zeroed. */
int pages_replace(uintptr_t addr, size_t n)
{
    if (!mem_range_ok(addr, n * PAGE_SIZE))
        return -EINVAL;
    pages_free((void *)addr, n);
    set_bits(dirty, addr / PAGE_SIZE, n, 1);
    take(addr / PAGE_SIZE, n);
    return 0;
}

void mem_stats(struct mem_stats *st)
{
    st->total_pages = total_free;
    st->used_pages = in_use;
    st->peak_pages = peak;
}
