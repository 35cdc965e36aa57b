/* pagewalk.h: guest-virtual to guest-physical translation by walking the guest's page tables. */
#ifndef HV_PAGEWALK_H
#define HV_PAGEWALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_CR0_PE   (1ull << 0)
#define PW_CR0_PG   (1ull << 31)
#define PW_CR4_PSE  (1ull << 4)
#define PW_CR4_PAE  (1ull << 5)
#define PW_CR4_LA57 (1ull << 12)
#define PW_EFER_LME (1ull << 8)
#define PW_EFER_LMA (1ull << 10)
#define PW_EFER_NXE (1ull << 11)

/* Page-table entry bits. */
#define PW_PTE_P  (1ull << 0)
#define PW_PTE_W  (1ull << 1)
#define PW_PTE_U  (1ull << 2)
#define PW_PTE_PS (1ull << 7)
#define PW_PTE_NX (1ull << 63)

/*
 * What the walk needs: the vCPU's paging registers (as KVM_GET_SREGS reports them) and guest
 * RAM, guest-physical 0 .. mem_size-1 at mem.  Every table entry is read through a bounds
 * check against mem_size; the walk never writes (accessed/dirty bits are left alone).
 */
struct pagewalk_ctx {
    uint64_t cr0, cr3, cr4, efer;
    const uint8_t *mem;
    uint64_t mem_size;
};

enum pagewalk_status {
    PW_OK = 0,
    PW_NOT_PRESENT,   /* an entry at `level` has P = 0 */
    PW_NONCANONICAL,  /* the address is outside the mode's linear address space */
    PW_TABLE_OUTSIDE, /* a table (or the entry in it) at `level` lies outside guest RAM */
    PW_RESERVED,      /* an entry at `level` sets a reserved bit (the CPU would #PF RSVD) */
    PW_GPA_OUTSIDE,   /* pagewalk_read_virt: the page translated, but not to guest RAM */
    PW_BAD_MODE,      /* register values no CPU would run with (LMA without PAE, ...) */
};

/*
 * The outcome of one translation.  Levels count down to the leaf: 5 = PML5, 4 = PML4,
 * 3 = PDPT, 2 = page directory, 1 = page table (PAE: 3 = the PDPTE; 32-bit: 2 and 1).
 * writable/user are the AND of W/U over every level, nx the OR of NX (only when EFER.NXE),
 * as the CPU combines them; CR0.WP, SMEP/SMAP and protection keys are not applied.
 * With paging off, gpa = gva and the page is writable, user and executable.
 */
struct pagewalk_result {
    enum pagewalk_status status;
    uint64_t gva;
    uint64_t gpa;       /* valid when status is PW_OK or PW_GPA_OUTSIDE */
    uint64_t page_size; /* 4 KiB, 2 MiB, 1 GiB; 4 MiB for 32-bit PSE pages */
    int levels;         /* the mode's depth: 0 (paging off), 2, 3, 4 or 5 */
    int level;          /* where the walk stopped: the leaf's level, or the failing one */
    bool writable, user, nx;
    uint64_t entries[5]; /* entries[l - 1]: the entry read at level l (0 if not reached) */
    uint64_t entry_gpa;  /* guest-physical address of the last entry read or attempted */
    char message[160];   /* one line for people, for any status */
};

/* Translates gva.  Returns r->status; r is always filled in, message included. */
enum pagewalk_status pagewalk_translate(const struct pagewalk_ctx *c, uint64_t gva,
                                        struct pagewalk_result *r);

/*
 * Copies len bytes from guest-virtual gva into buf, page by page, so the range may cross
 * pages that map anywhere.  Stops at the first page that does not translate to guest RAM:
 * *copied (optional) holds the bytes copied before it, and r (optional) describes that
 * page's translation (on success, the last page's).  Steps are 4 KiB whatever the page
 * size, so *copied is exact.  Returns PW_OK or the failing status.
 */
enum pagewalk_status pagewalk_read_virt(const struct pagewalk_ctx *c, uint64_t gva, void *buf,
                                        size_t len, size_t *copied, struct pagewalk_result *r);

const char *pagewalk_status_name(enum pagewalk_status s);

#endif
