/* native_syscall.c: host-Linux __vigil_syscall, to run svcos-built programs natively (tests). */

/*
 * musl in the svcos sysroot sends every system call to
 *     long __vigil_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);
 * In the service VM, svcos defines it.  This file defines it for a normal Linux
 * process instead, so that configure-time test programs and the sysroot's
 * self-checks can run on the build machine.  Build it without a stack
 * protector: musl calls it before TLS exists.
 *
 * Three calls cannot pass through a C function unchanged on Linux:
 *   - rt_sigreturn: the kernel reads the signal frame at the stack pointer, so
 *     switch to the frame address that musl's patched __restore_rt passes in a1;
 *   - vfork: the child would clobber the frames it shares with the parent, so
 *     use fork;
 *   - clone with CLONE_VM (threads, posix_spawn): the child would return into
 *     this function on a foreign stack, so refuse with -ENOSYS.
 */

#define VIGIL_NR_RT_SIGRETURN 15
#define VIGIL_NR_CLONE        56
#define VIGIL_NR_FORK         57
#define VIGIL_NR_VFORK        58
#define VIGIL_CLONE_VM        0x100L
#define VIGIL_ENOSYS          38

long __vigil_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);

long __vigil_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    unsigned long ret;

    if (n == VIGIL_NR_RT_SIGRETURN) {
        __asm__ __volatile__("mov %0, %%rsp\n\t"
                             "mov $15, %%eax\n\t"
                             "syscall\n\t"
                             "ud2"
                             :
                             : "r"(a1)
                             : "memory");
        __builtin_unreachable();
    }
    if (n == VIGIL_NR_VFORK)
        n = VIGIL_NR_FORK;
    if (n == VIGIL_NR_CLONE && (a1 & VIGIL_CLONE_VM))
        return -VIGIL_ENOSYS;

    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
    return (long)ret;
}
