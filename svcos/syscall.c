/* syscall.c: __vigil_syscall, the one entry point musl's system calls reach: dispatch by Linux
 * number, -ENOSYS (logged once) for the rest. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

#define P(i) ((void *)a##i)
#define I(i) ((int)a##i)
#define U(i) ((unsigned long)a##i)

static uint64_t logged[8];    /* numbers 0..511 already reported */
static long logged_other[16]; /* and others, as far as they fit */
static unsigned long calls;

void syscall_log_unknown(long n)
{
    if (n >= 0 && n < 512) {
        if (logged[n / 64] & (1ull << (n % 64)))
            return;
        logged[n / 64] |= 1ull << (n % 64);
    } else {
        for (unsigned i = 0; i < ARRAY_LEN(logged_other); i++) {
            if (logged_other[i] == n + 1)
                return;
            if (!logged_other[i]) {
                logged_other[i] = n + 1;
                break;
            }
        }
    }
    klog("unimplemented system call %ld: -ENOSYS", n);
}

/* Calls that need no implementation beyond success in a one-process OS. */
static int trivially_ok(long n)
{
    switch (n) {
    case SYS_set_robust_list:
    case SYS_sigaltstack:
    case SYS_flock:
    case SYS_fdatasync:
    case SYS_sync:
    case SYS_syncfs:
    case SYS_fadvise64:
    case SYS_mlock:
    case SYS_munlock:
    case SYS_mlockall:
    case SYS_munlockall:
    case SYS_setpriority:
    case SYS_setpgid:
    case SYS_setgroups:
    case SYS_fchown:
    case SYS_fchownat:
    case SYS_chown:
    case SYS_lchown:
    case SYS_personality:
    case SYS_membarrier:
    case SYS_setrlimit:
        return 1;
    default:
        return 0;
    }
}

long __vigil_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    if ((++calls & 255) == 0)
        svcos_check_stack();
    /* One line per call: the switch reads as the table it is. */
    // clang-format off
    switch (n) {
    /* descriptors */
    case SYS_read: return sys_read(I(1), P(2), U(3));
    case SYS_write: return sys_write(I(1), P(2), U(3));
    case SYS_readv: return sys_readv(I(1), P(2), I(3));
    case SYS_writev: return sys_writev(I(1), P(2), I(3));
    case SYS_pread64: return sys_pread(I(1), P(2), U(3), a4);
    case SYS_pwrite64: return sys_pwrite(I(1), P(2), U(3), a4);
    case SYS_lseek: return sys_lseek(I(1), a2, I(3));
    case SYS_close: return sys_close(I(1));
    case SYS_dup: return sys_dup(I(1));
    case SYS_dup2: return sys_dup2(I(1), I(2));
    case SYS_dup3: return sys_dup3(I(1), I(2), I(3));
    case SYS_fcntl: return sys_fcntl(I(1), I(2), a3);
    case SYS_ioctl: return sys_ioctl(I(1), U(2), P(3));
    case SYS_fstat: return sys_fstat(I(1), P(2));
    case SYS_ftruncate: return sys_ftruncate(I(1), a2);
    case SYS_fsync: return sys_fsync(I(1));
    case SYS_getdents64: return sys_getdents64(I(1), P(2), U(3));
    case SYS_pipe: return sys_pipe(P(1));
    case SYS_pipe2: return sys_pipe2(P(1), I(2));
    case SYS_sendfile: return sys_sendfile(I(1), I(2), P(3), U(4));
    case SYS_copy_file_range: return sys_copy_file_range(I(1), P(2), I(3), P(4), U(5), (unsigned)U(6));
    case SYS_eventfd: return sys_eventfd((unsigned)a1);
    case SYS_eventfd2: return sys_eventfd2((unsigned)a1, I(2));
    /* paths */
    case SYS_open: return sys_open(P(1), I(2), (mode_t)a3);
    case SYS_openat: return sys_openat(I(1), P(2), I(3), (mode_t)a4);
    case SYS_creat: return sys_creat(P(1), (mode_t)a2);
    case SYS_stat: return sys_stat(P(1), P(2));
    case SYS_lstat: return sys_lstat(P(1), P(2));
    case SYS_newfstatat: return sys_newfstatat(I(1), P(2), P(3), I(4));
    case SYS_statx: return sys_statx(I(1), P(2), I(3), (unsigned)a4, P(5));
    case SYS_access: return sys_access(P(1), I(2));
    case SYS_faccessat: return sys_faccessat(I(1), P(2), I(3), 0);
    case SYS_faccessat2: return sys_faccessat(I(1), P(2), I(3), I(4));
    case SYS_readlink: return sys_readlinkat(AT_FDCWD, P(1), P(2), U(3));
    case SYS_readlinkat: return sys_readlinkat(I(1), P(2), P(3), U(4));
    case SYS_mkdir: return sys_mkdir(P(1), (mode_t)a2);
    case SYS_mkdirat: return sys_mkdirat(I(1), P(2), (mode_t)a3);
    case SYS_rmdir: return sys_rmdir(P(1));
    case SYS_unlink: return sys_unlink(P(1));
    case SYS_unlinkat: return sys_unlinkat(I(1), P(2), I(3));
    case SYS_rename: return sys_rename(P(1), P(2));
    case SYS_renameat: return sys_renameat2(I(1), P(2), I(3), P(4), 0);
    case SYS_renameat2: return sys_renameat2(I(1), P(2), I(3), P(4), (unsigned)a5);
    case SYS_symlink: return sys_symlinkat(P(1), AT_FDCWD, P(2));
    case SYS_symlinkat: return sys_symlinkat(P(1), I(2), P(3));
    case SYS_link:
    case SYS_linkat: return -EPERM; /* no hard links in the RAM file system */
    case SYS_truncate: return sys_truncate(P(1), a2);
    case SYS_chmod: return sys_fchmodat(AT_FDCWD, P(1), (mode_t)a2);
    case SYS_fchmod: return sys_fchmod(I(1), (mode_t)a2);
    case SYS_fchmodat: return sys_fchmodat(I(1), P(2), (mode_t)a3);
    case SYS_utimensat: return sys_utimensat(I(1), P(2), P(3), I(4));
    case SYS_chdir: return sys_chdir(P(1));
    case SYS_fchdir: return sys_fchdir(I(1));
    case SYS_getcwd: return sys_getcwd(P(1), U(2));
    case SYS_umask: return sys_umask((mode_t)a1);
    case SYS_statfs: return sys_statfs(P(1), P(2));
    case SYS_fstatfs: return sys_fstatfs(I(1), P(2));
    /* readiness */
    case SYS_poll: return sys_poll(P(1), U(2), I(3));
    case SYS_ppoll: return sys_ppoll(P(1), U(2), P(3), P(4), U(5));
    case SYS_select: return sys_select(I(1), P(2), P(3), P(4), P(5));
    case SYS_pselect6: return sys_pselect6(I(1), P(2), P(3), P(4), P(5), P(6));
    case SYS_epoll_create: return sys_epoll_create(I(1));
    case SYS_epoll_create1: return sys_epoll_create1(I(1));
    case SYS_epoll_ctl: return sys_epoll_ctl(I(1), I(2), I(3), P(4));
    case SYS_epoll_wait: return sys_epoll_wait(I(1), P(2), I(3), I(4));
    case SYS_epoll_pwait: return sys_epoll_pwait(I(1), P(2), I(3), I(4), P(5), U(6));
    case SYS_epoll_pwait2: return sys_epoll_pwait2(I(1), P(2), I(3), P(4), P(5), U(6));
    /* sockets */
    case SYS_socket: return sys_socket(I(1), I(2), I(3));
    case SYS_socketpair: return sys_socketpair(I(1), I(2), I(3), P(4));
    case SYS_bind: return sys_bind(I(1), P(2), (unsigned)a3);
    case SYS_listen: return sys_listen(I(1), I(2));
    case SYS_connect: return sys_connect(I(1), P(2), (unsigned)a3);
    case SYS_accept: return sys_accept4(I(1), P(2), P(3), 0);
    case SYS_accept4: return sys_accept4(I(1), P(2), P(3), I(4));
    case SYS_sendto: return sys_sendto(I(1), P(2), U(3), I(4), P(5), (unsigned)a6);
    case SYS_recvfrom: return sys_recvfrom(I(1), P(2), U(3), I(4), P(5), P(6));
    case SYS_sendmsg: return sys_sendmsg(I(1), P(2), I(3));
    case SYS_recvmsg: return sys_recvmsg(I(1), P(2), I(3));
    case SYS_shutdown: return sys_shutdown(I(1), I(2));
    case SYS_getsockopt: return sys_getsockopt(I(1), I(2), I(3), P(4), P(5));
    case SYS_setsockopt: return sys_setsockopt(I(1), I(2), I(3), P(4), (unsigned)a5);
    case SYS_getsockname: return sys_getsockname(I(1), P(2), P(3));
    case SYS_getpeername: return sys_getpeername(I(1), P(2), P(3));
    /* memory */
    case SYS_brk: return sys_brk(U(1));
    case SYS_mmap: return sys_mmap(U(1), U(2), I(3), I(4), I(5), a6);
    case SYS_munmap: return sys_munmap(U(1), U(2));
    case SYS_mremap: return sys_mremap(U(1), U(2), U(3), I(4), U(5));
    case SYS_mprotect: return sys_mprotect(U(1), U(2), I(3));
    case SYS_madvise: return sys_madvise(U(1), U(2), I(3));
    case SYS_msync: return sys_msync(U(1), U(2), I(3));
    case SYS_mincore: return sys_mincore(U(1), U(2), P(3));
    /* time, randomness */
    case SYS_clock_gettime: return sys_clock_gettime((clockid_t)a1, P(2));
    case SYS_clock_getres: return sys_clock_getres((clockid_t)a1, P(2));
    case SYS_clock_nanosleep: return sys_clock_nanosleep((clockid_t)a1, I(2), P(3), P(4));
    case SYS_nanosleep: return sys_nanosleep(P(1), P(2));
    case SYS_gettimeofday: return sys_gettimeofday(P(1), P(2));
    case SYS_time: return sys_time(P(1));
    case SYS_getrandom: return sys_getrandom(P(1), U(2), (unsigned)a3);
    /* the process */
    case SYS_exit:
    case SYS_exit_group: svcos_exit(I(1));
    case SYS_arch_prctl: return sys_arch_prctl(I(1), U(2));
    case SYS_set_tid_address:
    case SYS_gettid:
    case SYS_getpid:
    case SYS_getpgrp:
    case SYS_getpgid:
    case SYS_getsid:
    case SYS_setsid: return 1;
    case SYS_getppid: return 0;
    case SYS_getuid:
    case SYS_geteuid:
    case SYS_getgid:
    case SYS_getegid:
    case SYS_getgroups: return 0;
    case SYS_setuid:
    case SYS_setgid:
    case SYS_setfsuid:
    case SYS_setfsgid: return a1 == 0 ? 0 : -EPERM;
    case SYS_getresuid:
    case SYS_getresgid: *(unsigned *)P(1) = *(unsigned *)P(2) = *(unsigned *)P(3) = 0; return 0;
    case SYS_uname: return sys_uname(P(1));
    case SYS_prlimit64: return sys_prlimit64(I(1), I(2), P(3), P(4));
    case SYS_getrlimit: return sys_prlimit64(0, I(1), NULL, P(2));
    case SYS_getrusage: return sys_getrusage(I(1), P(2));
    case SYS_sysinfo: return sys_sysinfo(P(1));
    case SYS_times: return sys_times(P(1));
    case SYS_rt_sigaction: return sys_rt_sigaction(I(1), P(2), P(3), U(4));
    case SYS_rt_sigprocmask: return sys_rt_sigprocmask(I(1), P(2), P(3), U(4));
    case SYS_kill: return sys_kill(I(1), I(2));
    case SYS_tkill: return sys_tkill(I(1), I(2));
    case SYS_tgkill: return sys_tgkill(I(1), I(2), I(3));
    case SYS_pause: return sys_pause();
    case SYS_futex: return sys_futex(P(1), I(2), I(3), P(4));
    case SYS_prctl: return sys_prctl(I(1), U(2));
    case SYS_sched_yield: loop_poll_sources(); return 0;
    case SYS_sched_getaffinity: return sys_sched_getaffinity(I(1), U(2), P(3));
    case SYS_getcpu: if (a1) *(unsigned *)P(1) = 0; if (a2) *(unsigned *)P(2) = 0; return 0;
    case SYS_getpriority: return 20; /* nice 0, as the raw call reports it */
    case SYS_wait4:
    case SYS_waitid: return -ECHILD;
    // clang-format on
    default:
        if (trivially_ok(n))
            return 0;
        syscall_log_unknown(n);
        return -ENOSYS;
    }
}
