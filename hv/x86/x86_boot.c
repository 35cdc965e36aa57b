/* x86_boot.c: builds the identity-mapped long-mode world every Vigil guest starts in. */
#include "x86/x86_boot.h"

#include "x86/elf_loader.h"

#include <stdio.h>
#include <string.h>

#define PTE_P   0x1ull
#define PTE_RW  0x2ull
#define PTE_US  0x4ull
#define PTE_PWT 0x8ull
#define PTE_PCD 0x10ull
#define PTE_PS  0x80ull
#define PAGE_2M (2ull << 20)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_PG (1ull << 31)

#define CR4_PAE        (1ull << 5)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_FSGSBASE   (1ull << 16)
#define CR4_OSXSAVE    (1ull << 18)

#define TSS_IST_OFFSET   0x24u /* IST1; IST2.. follow every 8 bytes */
#define TSS_IOMAP_FIELD  0x66u /* the I/O bitmap's offset from the TSS base */
#define TSS_IOMAP_BYTES  8192u
#define GATE_INTERRUPT64 0xeull

_Static_assert(BOOT_TSS_GPA + BOOT_MAX_VCPUS * BOOT_TSS_STRIDE <= BOOT_IOMAP_GPA, "TSSes");
_Static_assert(BOOT_IOMAP_GPA + TSS_IOMAP_BYTES < BOOT_IDT_GPA, "I/O bitmap");
_Static_assert(BOOT_PD_GPA + (BOOT_MAX_MEM >> 30) * 0x1000 <= BOOT_IST_GPA, "page directories");
_Static_assert(BOOT_IST_GPA + BOOT_MAX_VCPUS * BOOT_IST_PER_VCPU * BOOT_IST_SIZE <= 0x100000,
               "IST stacks");
_Static_assert(SEL_TSS + 16 * BOOT_MAX_VCPUS <= 0x1000, "GDT");
_Static_assert(BOOT_INFO_GPA + sizeof(struct vigil_boot_info) <= BOOT_CMDLINE_GPA, "boot info");

#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

static void put64(uint8_t *mem, uint64_t gpa, uint64_t v)
{
    memcpy(mem + gpa, &v, sizeof v);
}

static void write_page_tables(uint8_t *mem, uint64_t mem_size)
{
    uint64_t gibs = (mem_size + (1ull << 30) - 1) >> 30;
    put64(mem, BOOT_PML4_GPA, BOOT_PDPT_GPA | PTE_P | PTE_RW | PTE_US);
    for (uint64_t g = 0; g < gibs; g++)
        put64(mem, BOOT_PDPT_GPA + g * 8, (BOOT_PD_GPA + g * 0x1000) | PTE_P | PTE_RW | PTE_US);
    /* The first 2 MiB in 4 KiB pages so that page 0 can stay unmapped. */
    put64(mem, BOOT_PD_GPA, BOOT_PT0_GPA | PTE_P | PTE_RW | PTE_US);
    for (uint64_t i = 1; i < 512; i++)
        put64(mem, BOOT_PT0_GPA + i * 8, (i << 12) | PTE_P | PTE_RW | PTE_US);
    for (uint64_t addr = 2ull << 20; addr < mem_size; addr += 2ull << 20)
        put64(mem, BOOT_PD_GPA + (addr >> 21) * 8, addr | PTE_P | PTE_RW | PTE_US | PTE_PS);
}

/* A device's window gets the 2 MiB pages that cover it, uncached (device registers), in the
 * page directories RAM's tables already reserve up to BOOT_MAX_MEM. */
static int check_device(const struct vigil_boot_device *d, uint64_t mem_size, char *err,
                        size_t errlen)
{
    uint64_t end;
    if (!d->size || __builtin_add_overflow(d->base, d->size, &end) || end > BOOT_MAX_MEM ||
        (d->base & ~(PAGE_2M - 1)) < mem_size) {
        snprintf(err, errlen,
                 "device window 0x%llx + 0x%llx must lie above RAM (%llu MiB, rounded to 2 MiB) "
                 "and below %llu GiB",
                 (unsigned long long)d->base, (unsigned long long)d->size,
                 (unsigned long long)(mem_size >> 20), BOOT_MAX_MEM >> 30);
        return -1;
    }
    return 0;
}

static void map_device(uint8_t *mem, const struct vigil_boot_device *d)
{
    for (uint64_t a = d->base & ~(PAGE_2M - 1); a < d->base + d->size; a += PAGE_2M) {
        uint64_t g = a >> 30;
        put64(mem, BOOT_PDPT_GPA + g * 8, (BOOT_PD_GPA + g * 0x1000) | PTE_P | PTE_RW | PTE_US);
        put64(mem, BOOT_PD_GPA + (a >> 21) * 8,
              a | PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_PCD | PTE_PWT);
    }
}

/* vCPU i's TSS: its own IST stacks (so that vCPUs faulting at once do not
 * share a stack), and the I/O bitmap all of them share. */
static uint64_t tss_base(uint32_t index)
{
    return BOOT_TSS_GPA + index * BOOT_TSS_STRIDE;
}

/* Inclusive: it covers the bitmap's terminator byte. */
static uint64_t tss_limit(uint32_t index)
{
    return BOOT_IOMAP_GPA - tss_base(index) + TSS_IOMAP_BYTES;
}

uint64_t boot_ist_top(uint32_t index, unsigned ist)
{
    return BOOT_IST_GPA + ((uint64_t)index * BOOT_IST_PER_VCPU + ist) * BOOT_IST_SIZE;
}

static void write_gdt(uint8_t *mem, uint32_t vcpus)
{
    static const uint64_t gdt[] = {
        0,
        0x00af9a000000ffffull, /* 0x08 kernel code, 64-bit */
        0x00cf92000000ffffull, /* 0x10 kernel data */
        0x00cffa000000ffffull, /* 0x18 user code, 32-bit (unused) */
        0x00cff2000000ffffull, /* 0x20 user data */
        0x00affa000000ffffull, /* 0x28 user code, 64-bit */
    };
    memcpy(mem + BOOT_GDT_GPA, gdt, sizeof gdt);
    for (uint32_t i = 0; i < vcpus; i++) {
        /* SEL_TSS + 16 i: a 64-bit TSS descriptor (16 bytes), busy. */
        uint64_t base = tss_base(i), limit = tss_limit(i);
        uint64_t lo = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0xbull << 40) | (1ull << 47) |
                      (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
        put64(mem, BOOT_GDT_GPA + SEL_TSS + 16 * i, lo);
        put64(mem, BOOT_GDT_GPA + SEL_TSS + 16 * i + 8, base >> 32);
        memset(mem + base, 0, BOOT_TSS_STRIDE);
        for (unsigned ist = 1; ist <= BOOT_IST_PER_VCPU; ist++)
            put64(mem, base + TSS_IST_OFFSET + (ist - 1) * 8, boot_ist_top(i, ist));
        uint16_t iomap = (uint16_t)(BOOT_IOMAP_GPA - base);
        memcpy(mem + base + TSS_IOMAP_FIELD, &iomap, sizeof iomap);
    }
    /* IOPL 3 already lets CPL 3 use every port on VT-x/AMD-V, but PVM also
     * consults the TSS I/O bitmap: give it one that allows every port. */
    memset(mem + BOOT_IOMAP_GPA, 0, TSS_IOMAP_BYTES);
    mem[BOOT_IOMAP_GPA + TSS_IOMAP_BYTES] = 0xff; /* the bitmap's required terminator */
}

unsigned boot_idt_ist(unsigned vector)
{
    switch (vector) {
    case 2:
        return BOOT_IST_NMI;
    case 8:
        return BOOT_IST_DF;
    case 18:
        return BOOT_IST_MC;
    default:
        return BOOT_IST_FAULT;
    }
}

void boot_idt_gate(uint8_t gate[16], uint64_t entry, uint16_t cs, unsigned ist, unsigned dpl)
{
    uint64_t lo = 0, hi = 0;
    if (entry) {
        lo = (entry & 0xffff) | ((uint64_t)cs << 16) | ((uint64_t)(ist & 7) << 32) |
             (GATE_INTERRUPT64 << 40) | ((uint64_t)(dpl & 3) << 45) | (1ull << 47) |
             (((entry >> 16) & 0xffff) << 48);
        hi = entry >> 32;
    }
    memcpy(gate, &lo, sizeof lo);
    memcpy(gate + 8, &hi, sizeof hi);
}

void boot_write_idt(uint8_t *mem, const struct boot_params *p, const uint64_t *entries)
{
    uint16_t cs = (p->flags & VIGIL_BOOT_F_CPL0) ? SEL_KERNEL_CS : SEL_USER_CS;
    for (unsigned v = 0; v < BOOT_IDT_VECTORS; v++) {
        uint8_t gate[16];
        /* #BP and #OF come from int3/into, which check the gate's DPL: let CPL 3 reach them. */
        unsigned dpl = v == 3 || v == 4 ? 3 : 0;
        boot_idt_gate(gate, entries ? entries[v] : 0, cs, boot_idt_ist(v), dpl);
        uint64_t lo, hi;
        memcpy(&lo, gate, sizeof lo);
        memcpy(&hi, gate + 8, sizeof hi);
        /* The IDT is 16-byte aligned in page-aligned guest RAM: whole 8-byte stores. */
        uint64_t *slot = (uint64_t *)(void *)(mem + BOOT_IDT_GPA + 16 * v);
        if (entries) {
            __atomic_store_n(&slot[1], hi, __ATOMIC_RELAXED);
            __atomic_store_n(&slot[0], lo, __ATOMIC_RELEASE);
        } else {
            __atomic_store_n(&slot[0], lo, __ATOMIC_RELAXED);
            __atomic_store_n(&slot[1], hi, __ATOMIC_RELEASE);
        }
    }
}

static void add_region(struct vigil_boot_info *bi, uint64_t base, uint64_t end, uint32_t type)
{
    if (end <= base || bi->mmap_count >= VIGIL_BOOT_MMAP_MAX)
        return;
    bi->mmap[bi->mmap_count++] =
        (struct vigil_mem_region){.base = base, .len = end - base, .type = type};
}

int boot_write_tables(uint8_t *mem, const struct boot_params *p, char *err, size_t errlen)
{
    uint64_t stacks = (uint64_t)p->vcpus * BOOT_STACK_SIZE;
    if (p->mem_size < BOOT_MIN_MEM || p->mem_size > BOOT_MAX_MEM ||
        (p->mem_size & ((2ull << 20) - 1))) {
        snprintf(err, errlen,
                 "memory size %llu MiB: must be a multiple of 2 MiB in [4 MiB, 64 GiB]",
                 (unsigned long long)(p->mem_size >> 20));
        return -1;
    }
    if (p->image_end + stacks > p->mem_size) {
        snprintf(err, errlen, "image (ends 0x%llx) and %u vCPU stacks do not fit in %llu MiB",
                 (unsigned long long)p->image_end, p->vcpus,
                 (unsigned long long)(p->mem_size >> 20));
        return -1;
    }
    size_t cmdlen = p->cmdline ? strlen(p->cmdline) : 0;
    if (cmdlen >= VIGIL_BOOT_CMDLINE_MAX) {
        snprintf(err, errlen, "command line is %zu bytes, the limit is %u", cmdlen,
                 VIGIL_BOOT_CMDLINE_MAX - 1);
        return -1;
    }
    if (p->vcpus < 1 || p->vcpus > BOOT_MAX_VCPUS) {
        snprintf(err, errlen, "%u vCPUs: 1 to %u are supported", p->vcpus, BOOT_MAX_VCPUS);
        return -1;
    }
    if (p->ndevices > VIGIL_BOOT_DEV_MAX) {
        snprintf(err, errlen, "%u devices: the boot info lists at most %u", p->ndevices,
                 VIGIL_BOOT_DEV_MAX);
        return -1;
    }
    for (uint32_t i = 0; i < p->ndevices; i++)
        if (check_device(&p->devices[i], p->mem_size, err, errlen) < 0)
            return -1;
    write_page_tables(mem, p->mem_size);
    for (uint32_t i = 0; i < p->ndevices; i++)
        map_device(mem, &p->devices[i]);
    write_gdt(mem, p->vcpus);
    boot_write_idt(mem, p, NULL);
    memcpy(mem + BOOT_CMDLINE_GPA, p->cmdline ? p->cmdline : "", cmdlen + 1);

    struct vigil_boot_info bi = {
        .magic = VIGIL_BOOT_MAGIC,
        .abi_version = VIGIL_ABI_VERSION,
        .size = sizeof bi,
        .flags = p->flags,
        .vcpu_count = p->vcpus,
        .mem_size = p->mem_size,
        .cmdline_gpa = BOOT_CMDLINE_GPA,
        .cmdline_len = cmdlen,
        .stack_size = BOOT_STACK_SIZE,
        .tsc_hz = p->tsc_hz,
        .device_count = p->ndevices,
    };
    memcpy(bi.devices, p->devices, p->ndevices * sizeof bi.devices[0]);
    snprintf(bi.vm_name, sizeof bi.vm_name, "%s", p->name ? p->name : "");
    add_region(&bi, 0, ELF_LOAD_MIN_ADDR, VIGIL_MEM_RESERVED);
    add_region(&bi, ELF_LOAD_MIN_ADDR, p->image_start, VIGIL_MEM_FREE);
    add_region(&bi, p->image_start, p->image_end, VIGIL_MEM_IMAGE);
    add_region(&bi, p->image_end, p->mem_size - stacks, VIGIL_MEM_FREE);
    add_region(&bi, p->mem_size - stacks, p->mem_size, VIGIL_MEM_STACKS);
    memcpy(mem + BOOT_INFO_GPA, &bi, sizeof bi);
    return 0;
}

void boot_vcpu_regs(const struct boot_params *p, uint32_t index, struct kvm_regs *regs)
{
    memset(regs, 0, sizeof *regs);
    regs->rip = p->entry;
    regs->rdi = BOOT_INFO_GPA;
    regs->rsi = index;
    regs->rsp = p->mem_size - (uint64_t)index * BOOT_STACK_SIZE;
    /* IOPL 3 so that port I/O (hypercalls) works at CPL 3; IF clear: our guests take no
     * interrupts. */
    regs->rflags = 0x2 | (3u << 12);
}

struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *cpuid, uint32_t fn, uint32_t index)
{
    for (uint32_t i = 0; i < cpuid->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
        if (e->function == fn &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
            return (struct kvm_cpuid_entry2 *)(uintptr_t)e;
    }
    return NULL;
}

static bool has_xsave(const struct kvm_cpuid2 *cpuid)
{
    const struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, 1, 0);
    return e && (e->ecx & (1u << 26));
}

uint64_t boot_xcr0(const struct kvm_cpuid2 *cpuid)
{
    const struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, 0xd, 0);
    if (!has_xsave(cpuid) || !e)
        return 0;
    /* x87, SSE, AVX and the AVX-512 states, as far as the CPU has them. */
    uint64_t supported = ((uint64_t)e->edx << 32) | e->eax;
    return (supported & 0xe7) | 1;
}

void boot_vcpu_sregs(const struct boot_params *p, uint32_t index, const struct kvm_cpuid2 *cpuid,
                     struct kvm_sregs *s)
{
    bool cpl0 = p->flags & VIGIL_BOOT_F_CPL0;
    uint8_t dpl = cpl0 ? 0 : 3;
    struct kvm_segment code = {.base = 0,
                               .limit = 0xffffffff,
                               .selector = cpl0 ? SEL_KERNEL_CS : SEL_USER_CS,
                               .type = 11,
                               .present = 1,
                               .dpl = dpl,
                               .s = 1,
                               .l = 1,
                               .g = 1};
    struct kvm_segment data = {.base = 0,
                               .limit = 0xffffffff,
                               .selector = cpl0 ? SEL_KERNEL_DS : SEL_USER_DS,
                               .type = 3,
                               .present = 1,
                               .dpl = dpl,
                               .db = 1,
                               .s = 1,
                               .g = 1};
    s->cs = code;
    s->ds = s->es = s->fs = s->gs = s->ss = data;
    /* A busy 64-bit TSS of its own and an unusable LDT, as VT-x requires in long mode. */
    s->tr = (struct kvm_segment){.base = tss_base(index),
                                 .limit = (uint32_t)tss_limit(index),
                                 .selector = (uint16_t)(SEL_TSS + 16 * index),
                                 .type = 11,
                                 .present = 1};
    s->ldt = (struct kvm_segment){.type = 2, .unusable = 1};
    s->gdt.base = BOOT_GDT_GPA;
    s->gdt.limit = (uint16_t)(SEL_TSS + 16 * p->vcpus - 1);
    /* hv's IDT, whose gates stay absent (an exception is a triple fault) until the
     * guest registers its handlers: arming them then is a memory write, with no
     * need to reach into every vCPU's registers. */
    s->idt.base = BOOT_IDT_GPA;
    s->idt.limit = BOOT_IDT_VECTORS * 16 - 1;
    s->cr3 = BOOT_PML4_GPA;
    s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
    s->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    const struct kvm_cpuid_entry2 *leaf7 = cpuid_find(cpuid, 7, 0);
    if (leaf7 && (leaf7->ebx & 1u))
        s->cr4 |= CR4_FSGSBASE; /* lets CPL 3 code set its own TLS base */
    if (has_xsave(cpuid))
        s->cr4 |= CR4_OSXSAVE;
    s->efer = EFER_LME | EFER_LMA;
}
