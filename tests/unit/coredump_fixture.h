/* coredump_fixture: a fake frozen guest and ELF read-back helpers shared by the coredump tests. */
#ifndef VIGIL_TESTS_COREDUMP_FIXTURE_H
#define VIGIL_TESTS_COREDUMP_FIXTURE_H

#include "evidence/coredump.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FX_PAGE      4096u
#define FX_LOW_LEN   (16u << 20)        /* range 0 at gpa 0 */
#define FX_HIGH_GPA  0x100000000ull     /* range 1 above 4 GiB, as a guest with a PCI hole */
#define FX_HIGH_LEN  ((2u << 20) + 100) /* ends in a partial page */
#define FX_RUN_PAGE  256u               /* 2 MiB run of data pages from here: the direct path */
#define FX_RUN_PAGES 512u
#define FX_VMCI      "OSRELEASE=6.1.0-vigil\nPAGESIZE=4096\nSYMBOL(init_uts_ns)=ffffffff8201\n"

struct fx_guest {
    uint8_t *low, *high;
    size_t high_map;
    struct core_mem_range r[3]; /* the tests use 2; the gdb test splits low RAM in two */
    struct core_vcpu cpu[2];
    char dir[64], path[96];
};

static inline void fx_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + seed * 13 + 1) | 1;
}

static inline void fx_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, uint8_t l)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->type = type;
    s->limit = 0xffffffff;
    s->present = 1;
    s->dpl = 3;
    s->s = 1;
    s->l = l;
    s->db = !l;
    s->g = 1;
}

/* Two identity-mapped CPL 3 vCPUs in long mode, every register distinct. */
static inline void fx_vcpus(struct core_vcpu *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct kvm_regs *r = &c[i].regs;
        struct kvm_sregs *s = &c[i].sregs;
        uint64_t *w = (uint64_t *)(void *)r;

        memset(&c[i], 0, sizeof(c[i]));
        for (size_t k = 0; k < sizeof(*r) / 8; k++)
            w[k] = 0x1000 * (i + 1) + k; /* rax = 0x1000, rbx = 0x1001, ... for cpu 0 */
        r->rip = 0x100000 + 0x10 * i;
        r->rflags = 0x3202;
        fx_segment(&s->cs, 0x33, 0xb, 1);
        fx_segment(&s->ss, 0x2b, 0x3, 0);
        s->ds = s->es = s->ss;
        fx_segment(&s->fs, 0, 0x3, 0);
        fx_segment(&s->gs, 0, 0x3, 0);
        s->fs.base = 0x7f0000001000 + i;
        s->gs.base = 0x2000 + i;
        s->tr = (struct kvm_segment){
            .base = 0x3000, .limit = 0x67, .selector = 0x40, .type = 0xb, .present = 1};
        s->ldt = (struct kvm_segment){.unusable = 1, .type = 2};
        s->gdt = (struct kvm_dtable){.base = 0x5000, .limit = 0x7f};
        s->idt = (struct kvm_dtable){.base = 0x6000, .limit = 0xfff};
        s->cr0 = 0x80050033;
        s->cr2 = 0xdead000 + i;
        s->cr3 = 0x9000;
        s->cr4 = 0x6a0;
        s->efer = 0xd01;
        c[i].kernel_gs_base = 0x4000 + i;
    }
}

/*
 * Guest RAM as Vigil maps it. Data pages: low 1 (full), 5 (only its last byte), the 2 MiB run,
 * the last low page, high 0 and the high range's partial tail; low 6 is written then zeroed,
 * so it is resident but zero. Everything else is never touched.
 */
static inline int fx_setup(struct fx_guest *g)
{
    memset(g, 0, sizeof(*g));
    g->high_map = (FX_HIGH_LEN + FX_PAGE - 1) & ~(size_t)(FX_PAGE - 1);
    g->low = mmap(NULL, FX_LOW_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    g->high = mmap(NULL, g->high_map, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g->low == MAP_FAILED || g->high == MAP_FAILED)
        return -1;
    fx_pattern(g->low + 1 * FX_PAGE, FX_PAGE, 1);
    g->low[5 * FX_PAGE + FX_PAGE - 1] = 0x5a;
    memset(g->low + 6 * FX_PAGE, 0x77, FX_PAGE);
    memset(g->low + 6 * FX_PAGE, 0, FX_PAGE);
    fx_pattern(g->low + FX_RUN_PAGE * FX_PAGE, FX_RUN_PAGES * FX_PAGE, 2);
    fx_pattern(g->low + FX_LOW_LEN - FX_PAGE, FX_PAGE, 3);
    fx_pattern(g->high, FX_PAGE, 4);
    fx_pattern(g->high + (FX_HIGH_LEN & ~(FX_PAGE - 1)), FX_HIGH_LEN % FX_PAGE, 5);
    g->r[0] = (struct core_mem_range){.gpa = 0, .len = FX_LOW_LEN, .host = g->low};
    g->r[1] = (struct core_mem_range){.gpa = FX_HIGH_GPA, .len = FX_HIGH_LEN, .host = g->high};
    fx_vcpus(g->cpu, 2);

    snprintf(g->dir, sizeof(g->dir), "/tmp/vigil-coredump-XXXXXX");
    if (mkdtemp(g->dir) == NULL)
        return -1;
    snprintf(g->path, sizeof(g->path), "%s/guest.core", g->dir);
    return 0;
}

static inline void fx_teardown(struct fx_guest *g)
{
    munmap(g->low, FX_LOW_LEN);
    munmap(g->high, g->high_map);
    unlink(g->path);
    rmdir(g->dir);
}

/* Pages expected in the file as data (the rest are holes), and bytes of guest data written. */
#define FX_DATA_PAGES (1u + 1u + FX_RUN_PAGES + 1u + 1u + 1u)
#define FX_DATA_BYTES ((uint64_t)(FX_DATA_PAGES - 1) * FX_PAGE + FX_HIGH_LEN % FX_PAGE)
#define FX_PAGES      (FX_LOW_LEN / FX_PAGE + (FX_HIGH_LEN + FX_PAGE - 1) / FX_PAGE)

/* Reads the whole file; the caller frees it. */
static inline uint8_t *fx_slurp(const char *path, size_t *len)
{
    struct stat sb;
    uint8_t *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *len = 0;
    if (fd < 0 || fstat(fd, &sb) < 0)
        return NULL;
    buf = malloc((size_t)sb.st_size + 1);
    if (buf != NULL && pread(fd, buf, (size_t)sb.st_size, 0) != sb.st_size) {
        free(buf);
        buf = NULL;
    }
    close(fd);
    *len = (size_t)sb.st_size;
    return buf;
}

static inline uint64_t u64_at(const uint8_t *p, size_t off)
{
    uint64_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static inline uint32_t u32_at(const uint8_t *p, size_t off)
{
    uint32_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

struct fx_note {
    const char *name;
    uint32_t type;
    const uint8_t *desc;
    uint32_t descsz;
};

/* Splits the PT_NOTE payload into notes; returns how many, or -1 if malformed. */
static inline int fx_notes(const uint8_t *p, size_t len, struct fx_note *out, int max)
{
    size_t off = 0;
    int n = 0;

    while (off < len && n < max) {
        Elf64_Nhdr h;

        if (len - off < sizeof(h))
            return -1;
        memcpy(&h, p + off, sizeof(h));
        off += sizeof(h);
        if (h.n_namesz == 0 || p[off + h.n_namesz - 1] != '\0')
            return -1;
        out[n].name = (const char *)(p + off);
        off += (h.n_namesz + 3) & ~3u;
        out[n].desc = p + off;
        out[n].descsz = h.n_descsz;
        out[n].type = h.n_type;
        off += (h.n_descsz + 3) & ~3u;
        if (off > len)
            return -1;
        n++;
    }
    return off == len ? n : -1;
}

#endif
