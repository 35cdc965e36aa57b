/* fault_entry.S: exception stubs that report the interrupted state to hv before a fault escalates (also in svcos). */
#include <vigil/hypercall.h>

/*
 * hv's gates bring every exception here on an IST stack of hv's (below 1 MiB,
 * one per vCPU), at the interrupted code's own privilege level.  A stub saves
 * every general register next to the frame the CPU pushed, puts a PANIC
 * header in front (struct vigil_hc_fault_report) and hands its address to hv.
 * It never returns: there is nothing to return to after an unexpected
 * exception, and iretq faults on PVM.  Nothing here touches the FPU/SSE state,
 * which therefore stays the interrupted code's for the snapshot.
 */

    .text

/* Vectors for which the CPU pushes no error code get a 0 in its place, so that
 * every frame has one shape. */
.macro STUB vec, pushes_error
    .p2align 4
vigil_fault_stub_\vec:
    .if \pushes_error == 0
    pushq $0
    .endif
    pushq $\vec
    jmp vigil_fault_common
.endm

.irp v, 0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 16, 18, 19, 20, 22, 23, 24, 25, 26, 27, 28, 31
    STUB \v, 0
.endr
.irp v, 8, 10, 11, 12, 13, 14, 17, 21, 29, 30
    STUB \v, 1
.endr

    .p2align 4
vigil_fault_common:
    /* Pushed last to first so that memory holds rax .. r15 in struct order. */
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    /* struct vigil_hc_panic: code = VIGIL_PANIC_F_FAULT, no message, ret. */
    subq $32, %rsp
    xorl %eax, %eax
    movq %rax, 8(%rsp)
    movq %rax, 16(%rsp)
    movq %rax, 24(%rsp)
    btsq $VIGIL_PANIC_FAULT_SHIFT, %rax
    movq %rax, (%rsp)
    /* The IST stacks lie below 1 MiB, so the address fits the 32-bit OUT. */
    movl %esp, %eax
    movw $VIGIL_HC_PANIC_PORT, %dx
    outl %eax, %dx
    /* hv stops the VM on a fault report; should the call ever come back, halt. */
    subq $32, %rsp
    movq $VIGIL_FAULT_HALT_STATUS, (%rsp)
    movq $0, 8(%rsp)
    movq $0, 16(%rsp)
    movl %esp, %eax
    movw $VIGIL_HC_HALT_PORT, %dx
1:  outl %eax, %dx
    jmp 1b

/* The table SET_FAULT_HANDLER takes: one entry address per vector. */
    .section .rodata
    .p2align 3
    .globl vigil_fault_entries
    .type vigil_fault_entries, @object
vigil_fault_entries:
.irp v, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    .quad vigil_fault_stub_\v
.endr
    .size vigil_fault_entries, . - vigil_fault_entries

    .section .note.GNU-stack, "", @progbits
