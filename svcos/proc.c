/* proc.c: the process-level system calls of a one-process, one-thread OS: identity, uname, limits,
 * signals, futex, exit. */
#include "svcos.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

static uint64_t fs_base, gs_base;
static char comm[16] = "svcos";

long sys_arch_prctl(int code, uint64_t addr)
{
    switch (code) {
    case ARCH_SET_FS:
        if (!cpu.fsgsbase)
            kpanic("TLS needs FSGSBASE (CPUID.7.EBX[0]), which this CPU lacks: hv must set FS base "
                   "by hypercall");
        __asm__ volatile("wrfsbase %0" : : "r"(addr) : "memory");
        fs_base = addr;
        return 0;
    case ARCH_SET_GS:
        if (!cpu.fsgsbase)
            return -EINVAL;
        __asm__ volatile("wrgsbase %0" : : "r"(addr) : "memory");
        gs_base = addr;
        return 0;
    case ARCH_GET_FS:
        *(uint64_t *)addr = fs_base;
        return 0;
    case ARCH_GET_GS:
        *(uint64_t *)addr = gs_base;
        return 0;
    default:
        return -EINVAL;
    }
}

__attribute__((noreturn)) void svcos_exit(int status);
void svcos_exit(int status)
{
    char msg[64];
    snprintf(msg, sizeof msg, "exit %d", status & 0xff);
    hv_halt((uint64_t)(status & 0xff), msg);
}

long sys_uname(struct utsname *u)
{
    memset(u, 0, sizeof *u);
    strcpy(u->sysname, "Linux"); /* what programs test for; the ABI is Linux's */
    size_t len;
    const char *h = svcos_cmdline_get("hostname", &len);
    if (!h) {
        h = svcos_boot_info->vm_name[0] ? svcos_boot_info->vm_name : "vigil-service";
        len = strnlen(h, VIGIL_BOOT_VM_NAME_MAX);
    }
    memcpy(u->nodename, h, len < sizeof u->nodename - 1 ? len : sizeof u->nodename - 1);
    strcpy(u->release, "5.10.0-svcos");
    strcpy(u->version, "#1 svcos (Vigil library OS)");
    strcpy(u->machine, "x86_64");
    strcpy(u->domainname, "(none)");
    return 0;
}

long sys_prlimit64(int pid, int res, const struct rlimit *nw, struct rlimit *old)
{
    if (pid != 0 && pid != 1)
        return -ESRCH;
    if (res < 0 || res >= RLIM_NLIMITS)
        return -EINVAL;
    (void)nw; /* accepted, not enforced */
    if (old) {
        old->rlim_cur = old->rlim_max = RLIM_INFINITY;
        if (res == RLIMIT_NOFILE)
            old->rlim_cur = old->rlim_max = FD_MAX;
        else if (res == RLIMIT_STACK)
            old->rlim_cur = old->rlim_max = svcos_cmdline_u64("svcos.stack_kib", 1024) * 1024;
        else if (res == RLIMIT_CORE)
            old->rlim_cur = old->rlim_max = 0;
    }
    return 0;
}

long sys_getrusage(int who, struct rusage *ru)
{
    (void)who;
    struct mem_stats ms;
    struct timespec ts;
    sys_clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    mem_stats(&ms);
    memset(ru, 0, sizeof *ru);
    ru->ru_utime.tv_sec = ts.tv_sec;
    ru->ru_utime.tv_usec = ts.tv_nsec / 1000;
    ru->ru_maxrss = (long)(ms.peak_pages * 4);
    return 0;
}

long sys_sysinfo(struct sysinfo *si)
{
    struct mem_stats ms;
    struct timespec ts;
    mem_stats(&ms);
    sys_clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    memset(si, 0, sizeof *si);
    si->uptime = ts.tv_sec;
    si->totalram = svcos_boot_info->mem_size;
    si->freeram = (ms.total_pages - ms.used_pages) * PAGE_SIZE;
    si->procs = 1;
    si->mem_unit = 1;
    return 0;
}

long sys_times(struct tms *t)
{
    struct timespec ts;
    sys_clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    long ticks = (long)ts.tv_sec * 100 + ts.tv_nsec / 10000000;
    if (t) {
        memset(t, 0, sizeof *t);
        t->tms_utime = ticks;
    }
    return ticks;
}

/* Signals: handlers are recorded; a signal a program sends itself runs its handler synchronously
 * (raise, abort). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};
static struct ksigaction actions[65];
static uint64_t blocked, pending;
static long deliver(int sig);

long sys_rt_sigaction(int sig, const struct ksigaction *act, struct ksigaction *old, size_t sz)
{
    if (sig < 1 || sig > 64 || sz != 8 || ((sig == SIGKILL || sig == SIGSTOP) && act))
        return -EINVAL;
    if (old)
        *old = actions[sig];
    if (act)
        actions[sig] = *act;
    return 0;
}

long sys_rt_sigprocmask(int how, const uint64_t *set, uint64_t *old, size_t sz)
{
    if (sz != 8)
        return -EINVAL;
    if (old)
        *old = blocked;
    if (set) {
        if (how == SIG_BLOCK)
            blocked |= *set;
        else if (how == SIG_UNBLOCK)
            blocked &= ~*set;
        else if (how == SIG_SETMASK)
            blocked = *set;
        else
            return -EINVAL;
    }
    /* Signals sent while blocked are delivered once unblocked (abort() relies on it). */
    for (int sig = 1; sig <= 64 && (pending & ~blocked); sig++) {
        uint64_t bit = 1ull << (sig - 1);
        if (pending & ~blocked & bit) {
            pending &= ~bit;
            deliver(sig);
        }
    }
    return 0;
}

static int ignored_by_default(int sig)
{
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT;
}

static long deliver(int sig)
{
    if (sig == 0)
        return 0;
    if (sig < 1 || sig > 64)
        return -EINVAL;
    void (*h)(int) = actions[sig].handler;
    if (h == SIG_IGN || (h == SIG_DFL && ignored_by_default(sig)))
        return 0;
    if ((blocked >> (sig - 1)) & 1 && sig != SIGKILL && sig != SIGSTOP) {
        pending |= 1ull << (sig - 1);
        return 0;
    }
    if (h == SIG_DFL || sig == SIGKILL || sig == SIGSTOP) {
        char msg[64];
        snprintf(msg, sizeof msg, "killed by signal %d", sig);
        klog("%s", msg);
        hv_halt(128u + (unsigned)sig, msg);
    }
    if (actions[sig].flags & SA_SIGINFO) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        si.si_signo = sig;
        si.si_code = SI_TKILL;
        ((void (*)(int, siginfo_t *, void *))(void (*)(void))h)(sig, &si, NULL);
    } else {
        h(sig);
    }
    return 0;
}

long sys_kill(int pid, int sig)
{
    return pid == 1 || pid == 0 || pid == -1 ? deliver(sig) : -ESRCH;
}

long sys_tgkill(int tgid, int tid, int sig)
{
    return tgid == 1 && tid == 1 ? deliver(sig) : -ESRCH;
}

long sys_tkill(int tid, int sig)
{
    return tid == 1 ? deliver(sig) : -ESRCH;
}

long sys_futex(int *uaddr, int op, int val, const struct timespec *timeout)
{
    int cmd = op & 127;
    switch (cmd) {
    case 0: /* FUTEX_WAIT */
    case 9: /* FUTEX_WAIT_BITSET */ {
        if (__atomic_load_n(uaddr, __ATOMIC_SEQ_CST) != val)
            return -EAGAIN;
        if (!timeout)
            kpanic("deadlock: futex wait with a single thread");
        uint64_t deadline;
        if (cmd == 0) {
            long r = ts_to_deadline(timeout, &deadline);
            if (r < 0)
                return r;
        } else { /* absolute, on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME */
            uint64_t abs = (uint64_t)timeout->tv_sec * NS_PER_S + (uint64_t)timeout->tv_nsec;
            uint64_t now_wall = time_wall_ns();
            deadline = !(op & 256) ? abs : abs > now_wall ? time_mono_ns() + (abs - now_wall) : 0;
        }
        while (time_mono_ns() < deadline)
            loop_wait(deadline, 0);
        return -ETIMEDOUT;
    }
    case 1:  /* FUTEX_WAKE */
    case 10: /* FUTEX_WAKE_BITSET */
        return 0;
    default:
        return -ENOSYS;
    }
}

long sys_prctl(int op, unsigned long a2)
{
    switch (op) {
    case 15: /* PR_SET_NAME */
        strncpy(comm, (const char *)a2, sizeof comm - 1);
        return 0;
    case 16: /* PR_GET_NAME */
        memcpy((char *)a2, comm, sizeof comm);
        return 0;
    case 3: /* PR_GET_DUMPABLE */
        return 0;
    case 4:  /* PR_SET_DUMPABLE */
    case 1:  /* PR_SET_PDEATHSIG */
    case 38: /* PR_SET_NO_NEW_PRIVS */
        return 0;
    default:
        return -EINVAL;
    }
}

long sys_sched_getaffinity(int pid, size_t len, unsigned long *mask)
{
    if (pid != 0 && pid != 1)
        return -ESRCH;
    if (len < sizeof *mask)
        return -EINVAL;
    memset(mask, 0, len);
    mask[0] = 1;
    return sizeof *mask;
}

long sys_pause(void)
{
    for (;;)
        loop_wait(UINT64_MAX, 0);
}
