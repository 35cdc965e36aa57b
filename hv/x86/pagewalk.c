/* pagewalk.c: x86 page walks (32-bit, PAE, 4- and 5-level) over bounds-checked guest RAM. */
#include "x86/pagewalk.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ADDR_MASK      0x000ffffffffff000ull /* bits 51:12 of a 64-bit entry */
#define PAE_PDPTE_RSVD 0x1e6ull              /* bits 2:1 and 8:5 of a PAE PDPTE */
#define SMALL_PAGE     4096ull

static const char *level_name(int levels, int level)
{
    static const char *const names[] = {"?", "PT", "PD", "PDPT", "PML4", "PML5"};
    if (levels == 3 && level == 3)
        return "PDPTE";
    return level >= 1 && level <= 5 ? names[level] : "?";
}

/* Reads a little-endian entry of `size` bytes at gpa, if it lies wholly inside guest RAM. */
static bool read_entry(const struct pagewalk_ctx *c, uint64_t gpa, unsigned size, uint64_t *out)
{
    if (!c->mem || c->mem_size < size || gpa > c->mem_size - size)
        return false;
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)c->mem[gpa + i] << (8 * i);
    *out = v;
    return true;
}

static enum pagewalk_status stop(struct pagewalk_result *r, enum pagewalk_status st, int level,
                                 const char *what)
{
    r->status = st;
    r->level = level;
    switch (st) {
    case PW_NOT_PRESENT:
        snprintf(r->message, sizeof r->message,
                 "0x%" PRIx64 ": not present at level %d (%s entry 0x%" PRIx64 " at gpa 0x%" PRIx64
                 ")",
                 r->gva, level, level_name(r->levels, level), r->entries[level - 1], r->entry_gpa);
        break;
    case PW_TABLE_OUTSIDE:
        snprintf(r->message, sizeof r->message,
                 "0x%" PRIx64 ": level %d (%s) entry at gpa 0x%" PRIx64 " lies outside guest RAM",
                 r->gva, level, level_name(r->levels, level), r->entry_gpa);
        break;
    case PW_RESERVED:
        snprintf(r->message, sizeof r->message,
                 "0x%" PRIx64 ": %s entry 0x%" PRIx64 " at level %d sets a reserved bit (%s)",
                 r->gva, level_name(r->levels, level), r->entries[level - 1], level, what);
        break;
    default:
        snprintf(r->message, sizeof r->message, "0x%" PRIx64 ": %s", r->gva, what);
        break;
    }
    return st;
}

static enum pagewalk_status done(struct pagewalk_result *r, int level, uint64_t gpa,
                                 uint64_t page_size)
{
    r->status = PW_OK;
    r->level = level;
    r->gpa = gpa;
    r->page_size = page_size;
    snprintf(r->message, sizeof r->message,
             "0x%" PRIx64 " -> 0x%" PRIx64 " (%" PRIu64 " KiB page, %s, %s, %s)", r->gva, gpa,
             page_size >> 10, r->writable ? "writable" : "read-only",
             r->user ? "user" : "supervisor", r->nx ? "no-execute" : "executable");
    return PW_OK;
}

/* Fetches one 64-bit entry and folds its permission bits in; not PW_OK ends the walk. */
static enum pagewalk_status fetch64(const struct pagewalk_ctx *c, struct pagewalk_result *r,
                                    uint64_t table, unsigned index, int level, uint64_t *e)
{
    r->entry_gpa = table + (uint64_t)index * 8;
    if (!read_entry(c, r->entry_gpa, 8, e))
        return stop(r, PW_TABLE_OUTSIDE, level, NULL);
    r->entries[level - 1] = *e;
    if (!(*e & PW_PTE_P))
        return stop(r, PW_NOT_PRESENT, level, NULL);
    if (r->levels == 3 && level == 3) /* a PAE PDPTE: no W/U/NX of its own */
        return *e & (PAE_PDPTE_RSVD | PW_PTE_NX) ? stop(r, PW_RESERVED, level, "PDPTE bits")
                                                 : PW_OK;
    if ((*e & PW_PTE_NX) && !(c->efer & PW_EFER_NXE))
        return stop(r, PW_RESERVED, level, "NX while EFER.NXE is clear");
    r->writable &= (*e & PW_PTE_W) != 0;
    r->user &= (*e & PW_PTE_U) != 0;
    r->nx |= (*e & PW_PTE_NX) != 0;
    return PW_OK;
}

/* PAE and long mode: 64-bit entries, 9 index bits a level (PAE's top level has 2). */
static enum pagewalk_status walk64(const struct pagewalk_ctx *c, uint64_t gva,
                                   struct pagewalk_result *r)
{
    uint64_t table = r->levels == 3 ? (c->cr3 & 0xffffffe0ull) : (c->cr3 & ADDR_MASK);
    uint64_t e = 0;

    for (int level = r->levels; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        unsigned index = (unsigned)(gva >> shift) & (r->levels == 3 && level == 3 ? 3 : 511);
        enum pagewalk_status st = fetch64(c, r, table, index, level, &e);
        if (st)
            return st;
        if (level == 1)
            return done(r, 1, (e & ADDR_MASK) | (gva & (SMALL_PAGE - 1)), SMALL_PAGE);
        if ((e & PW_PTE_PS) && (level > 3 || (r->levels == 3 && level == 3)))
            return stop(r, PW_RESERVED, level, "PS in a non-leaf level");
        if (e & PW_PTE_PS) {
            uint64_t size = 1ull << shift;
            /* Bit 12 is PAT; the bits from 13 up to the page's alignment must be zero. */
            if (e & (size - 1) & ~0x1fffull)
                return stop(r, PW_RESERVED, level, "large page address not aligned");
            return done(r, level, (e & ADDR_MASK & ~(size - 1)) | (gva & (size - 1)), size);
        }
        table = e & ADDR_MASK;
    }
    return stop(r, PW_BAD_MODE, 0, "walk ended without a leaf"); /* not reached */
}

/* Legacy 32-bit paging: 4-byte entries, 10 index bits a level, 4 MiB pages with CR4.PSE. */
static enum pagewalk_status walk32(const struct pagewalk_ctx *c, uint64_t gva,
                                   struct pagewalk_result *r)
{
    uint64_t table = c->cr3 & 0xfffff000ull, e = 0;

    for (int level = 2; level >= 1; level--) {
        unsigned index = (unsigned)(gva >> (level == 2 ? 22 : 12)) & 1023;
        r->entry_gpa = table + (uint64_t)index * 4;
        if (!read_entry(c, r->entry_gpa, 4, &e))
            return stop(r, PW_TABLE_OUTSIDE, level, NULL);
        r->entries[level - 1] = e;
        if (!(e & PW_PTE_P))
            return stop(r, PW_NOT_PRESENT, level, NULL);
        r->writable &= (e & PW_PTE_W) != 0;
        r->user &= (e & PW_PTE_U) != 0;
        if (level == 1)
            return done(r, 1, (e & 0xfffff000ull) | (gva & 0xfff), SMALL_PAGE);
        if ((e & PW_PTE_PS) && (c->cr4 & PW_CR4_PSE)) {
            /* PSE-36/40: bits 20:13 of the entry are physical address bits 39:32. */
            uint64_t base = (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32);
            return done(r, 2, base | (gva & 0x3fffff), 4ull << 20);
        }
        table = e & 0xfffff000ull;
    }
    return stop(r, PW_BAD_MODE, 0, "walk ended without a leaf"); /* not reached */
}

enum pagewalk_status pagewalk_translate(const struct pagewalk_ctx *c, uint64_t gva,
                                        struct pagewalk_result *r)
{
    memset(r, 0, sizeof *r);
    r->gva = gva;
    r->writable = r->user = true;

    if (!(c->cr0 & PW_CR0_PG)) {
        if (gva > UINT32_MAX)
            return stop(r, PW_NONCANONICAL, 0, "beyond 4 GiB with paging off");
        return done(r, 0, gva, SMALL_PAGE);
    }
    if (!(c->cr0 & PW_CR0_PE))
        return stop(r, PW_BAD_MODE, 0, "CR0.PG set without CR0.PE");
    if (c->efer & PW_EFER_LMA) {
        if (!(c->cr4 & PW_CR4_PAE))
            return stop(r, PW_BAD_MODE, 0, "EFER.LMA set without CR4.PAE");
        r->levels = c->cr4 & PW_CR4_LA57 ? 5 : 4;
        unsigned bits = r->levels == 5 ? 57 : 48;
        int64_t sext = (int64_t)(gva << (64 - bits)) >> (64 - bits);
        if ((uint64_t)sext != gva)
            return stop(r, PW_NONCANONICAL, 0,
                        bits == 57 ? "not canonical (57-bit, LA57)" : "not canonical (48-bit)");
        return walk64(c, gva, r);
    }
    if (gva > UINT32_MAX)
        return stop(r, PW_NONCANONICAL, 0, "beyond the 32-bit linear address space");
    r->levels = c->cr4 & PW_CR4_PAE ? 3 : 2;
    return r->levels == 3 ? walk64(c, gva, r) : walk32(c, gva, r);
}

enum pagewalk_status pagewalk_read_virt(const struct pagewalk_ctx *c, uint64_t gva, void *buf,
                                        size_t len, size_t *copied, struct pagewalk_result *r)
{
    struct pagewalk_result local;
    enum pagewalk_status st = PW_OK;
    size_t n = 0;

    if (!r)
        r = &local;
    memset(r, 0, sizeof *r);
    if (len && gva + (len - 1) < gva) {
        r->gva = gva;
        st = stop(r, PW_NONCANONICAL, 0, "range wraps past the top of the address space");
    }
    /* One 4 KiB step at a time, whatever the page size, so *copied is exact. */
    while (!st && n < len) {
        uint64_t va = gva + n;
        st = pagewalk_translate(c, va, r);
        if (st)
            break;
        size_t chunk = (size_t)(SMALL_PAGE - (va & (SMALL_PAGE - 1)));
        if (chunk > len - n)
            chunk = len - n;
        if (r->gpa > c->mem_size || chunk > c->mem_size - r->gpa) {
            r->status = st = PW_GPA_OUTSIDE;
            snprintf(r->message, sizeof r->message,
                     "0x%" PRIx64 " maps to gpa 0x%" PRIx64 ", outside guest RAM (0x%" PRIx64
                     " bytes)",
                     va, r->gpa, c->mem_size);
            break;
        }
        memcpy((uint8_t *)buf + n, c->mem + r->gpa, chunk);
        n += chunk;
    }
    if (copied)
        *copied = n;
    return st;
}

const char *pagewalk_status_name(enum pagewalk_status s)
{
    static const char *const names[] = {
        [PW_OK] = "ok",
        [PW_NOT_PRESENT] = "not present",
        [PW_NONCANONICAL] = "non-canonical",
        [PW_TABLE_OUTSIDE] = "page table outside guest RAM",
        [PW_RESERVED] = "reserved bit set",
        [PW_GPA_OUTSIDE] = "maps outside guest RAM",
        [PW_BAD_MODE] = "invalid paging mode",
    };
    return (unsigned)s <= PW_BAD_MODE ? names[s] : "?";
}
