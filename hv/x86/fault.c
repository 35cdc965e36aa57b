/* fault.c: checks what a guest's exception stub reports, and recognises a vCPU reset under hv. */
#include "x86/fault.h"

#include <stdio.h>

#define RFLAGS_FIXED1 (1ull << 1)
#define RFLAGS_VM     (1ull << 17)
/* Bits 3, 5, 15 and 22-63 are reserved and always read as 0. */
#define RFLAGS_RESERVED ((1ull << 3) | (1ull << 5) | (1ull << 15) | ~((1ull << 22) - 1))

#define CR0_PE 1ull

const char *fault_vector_name(unsigned vector)
{
    static const char *const names[VIGIL_FAULT_VECTORS] = {
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
        "#NP", "#SS", "#GP", "#PF", "#??", "#MF", "#AC", "#MC", "#XM", "#VE",  "#CP",
        "#??", "#??", "#??", "#??", "#??", "#??", "#HV", "#VC", "#SX", "#??",
    };
    return vector < VIGIL_FAULT_VECTORS ? names[vector] : "#??";
}

bool fault_vector_has_error_code(unsigned vector)
{
    switch (vector) {
    case 8:  /* #DF */
    case 10: /* #TS */
    case 11: /* #NP */
    case 12: /* #SS */
    case 13: /* #GP */
    case 14: /* #PF */
    case 17: /* #AC */
    case 21: /* #CP */
    case 29: /* #VC */
    case 30: /* #SX */
        return true;
    default:
        return false;
    }
}

/* 48-bit virtual addresses: bits 63-47 all equal. */
static bool canonical(uint64_t a)
{
    uint64_t top = a >> 47;
    return top == 0 || top == 0x1ffff;
}

int fault_frame_check(const struct vigil_fault_frame *f, uint16_t cs, char *why, size_t whylen)
{
    if (f->vector >= VIGIL_FAULT_VECTORS)
        snprintf(why, whylen, "vector %llu is not an exception", (unsigned long long)f->vector);
    else if (f->cs != cs)
        /* The gates lead to the VM's own code segment, so the CPU pushed that one. */
        snprintf(why, whylen, "cs 0x%llx is not the VM's code segment 0x%x",
                 (unsigned long long)f->cs, cs);
    else if ((f->ss & 3) != (cs & 3) || f->ss > 0xffff)
        snprintf(why, whylen, "ss 0x%llx does not belong to CPL %u", (unsigned long long)f->ss,
                 cs & 3);
    else if (!canonical(f->rip) || !canonical(f->rsp))
        snprintf(why, whylen, "rip 0x%llx or rsp 0x%llx is not canonical",
                 (unsigned long long)f->rip, (unsigned long long)f->rsp);
    else if (!(f->rflags & RFLAGS_FIXED1) || (f->rflags & (RFLAGS_RESERVED | RFLAGS_VM)))
        snprintf(why, whylen, "rflags 0x%llx is impossible in long mode",
                 (unsigned long long)f->rflags);
    else if (f->error_code >> 32 ||
             (f->error_code && !fault_vector_has_error_code((unsigned)f->vector)))
        snprintf(why, whylen, "error code 0x%llx is impossible for %s",
                 (unsigned long long)f->error_code, fault_vector_name((unsigned)f->vector));
    else
        return 0;
    return -1;
}

void fault_frame_regs(const struct vigil_fault_frame *f, struct kvm_regs *r)
{
    *r = (struct kvm_regs){.rax = f->rax,
                           .rbx = f->rbx,
                           .rcx = f->rcx,
                           .rdx = f->rdx,
                           .rsi = f->rsi,
                           .rdi = f->rdi,
                           .rsp = f->rsp,
                           .rbp = f->rbp,
                           .r8 = f->r8,
                           .r9 = f->r9,
                           .r10 = f->r10,
                           .r11 = f->r11,
                           .r12 = f->r12,
                           .r13 = f->r13,
                           .r14 = f->r14,
                           .r15 = f->r15,
                           .rip = f->rip,
                           .rflags = f->rflags};
}

int fault_check_entries(const uint64_t *entries, unsigned n, uint64_t min_addr, uint64_t mem_size,
                        char *why, size_t whylen)
{
    for (unsigned v = 0; v < n; v++)
        if (entries[v] && (entries[v] < min_addr || entries[v] >= mem_size)) {
            snprintf(why, whylen,
                     "the entry for vector %u (0x%llx) is not in guest RAM above 0x%llx", v,
                     (unsigned long long)entries[v], (unsigned long long)min_addr);
            return -1;
        }
    return 0;
}

bool fault_regs_look_reset(const struct kvm_regs *r, const struct kvm_sregs *s)
{
    return r->rip == 0xfff0 && s->cs.selector == 0xf000 && s->cs.base == 0xffff0000ull &&
           !(s->cr0 & CR0_PE);
}

void fault_describe(const struct fault_evidence *e, char *buf, size_t len)
{
    int n = snprintf(buf, len, "exception %s (vector %u) at rip 0x%llx",
                     fault_vector_name(e->vector), e->vector, (unsigned long long)e->regs.rip);
    if (n >= 0 && (size_t)n < len && fault_vector_has_error_code(e->vector))
        n += snprintf(buf + n, len - (size_t)n, ", error code 0x%llx",
                      (unsigned long long)e->error_code);
    if (n >= 0 && (size_t)n < len && e->vector == 14)
        snprintf(buf + n, len - (size_t)n, ", cr2 0x%llx", (unsigned long long)e->cr2);
}
