/* x86_boot.c: builds the identity-mapped long-mode world every Vigil guest starts in. */
#include "x86_boot.h"

#include "elf_loader.h"

#include <stdio.h>
#include <string.h>

#define PTE_P  0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull

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

#define TSS_IOMAP_OFFSET 0x68u
#define TSS_LIMIT        (TSS_IOMAP_OFFSET + 8192u) /* inclusive: the terminator byte */

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

static void write_gdt(uint8_t *mem)
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
    /* 0x30: 64-bit TSS descriptor (16 bytes), busy, covering an I/O bitmap. */
    uint64_t base = BOOT_TSS_GPA, limit = TSS_LIMIT;
    uint64_t lo = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0xbull << 40) | (1ull << 47) |
                  (((base >> 24) & 0xff) << 56);
    put64(mem, BOOT_GDT_GPA + 0x30, lo);
    put64(mem, BOOT_GDT_GPA + 0x38, base >> 32);
    /* IOPL 3 already lets CPL 3 use every port on VT-x/AMD-V, but PVM also
     * consults the TSS I/O bitmap: give it one that allows every port. */
    uint16_t iomap = TSS_IOMAP_OFFSET;
    memcpy(mem + BOOT_TSS_GPA + 0x66, &iomap, sizeof iomap);
    memset(mem + BOOT_TSS_GPA + TSS_IOMAP_OFFSET, 0, 8192);
    mem[BOOT_TSS_GPA + TSS_IOMAP_OFFSET + 8192] = 0xff; /* the bitmap's required terminator */
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
    write_page_tables(mem, p->mem_size);
    write_gdt(mem);
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
    };
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
    /* IOPL 3 so that port I/O (hypercalls) works at CPL 3; IF clear: no IDT. */
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

void boot_vcpu_sregs(const struct boot_params *p, const struct kvm_cpuid2 *cpuid,
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
    /* A busy 64-bit TSS and an unusable LDT, as VT-x requires in long mode. */
    s->tr = (struct kvm_segment){
        .base = BOOT_TSS_GPA, .limit = TSS_LIMIT, .selector = SEL_TSS, .type = 11, .present = 1};
    s->ldt = (struct kvm_segment){.type = 2, .unusable = 1};
    s->gdt.base = BOOT_GDT_GPA;
    s->gdt.limit = 0x3f;
    s->idt.base = 0;
    s->idt.limit = 0; /* no IDT: any exception is a triple fault hv reports */
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
