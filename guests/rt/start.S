/* start.S: guest entry point; every vCPU arrives here from hv with rdi = boot info, rsi = index. */
    .section .text.start, "ax"
    .globl _start
_start:
    and $-16, %rsp
    xor %ebp, %ebp
    call rt_start
1:  ud2          /* rt_start never returns; if it did, this #UD would be reported */
    jmp 1b
    .section .note.GNU-stack, "", @progbits
