/* sysdecl.h: prototypes of the system-call implementations (sys_*), which syscall.c dispatches to.
 */
#ifndef SVCOS_SYSDECL_H
#define SVCOS_SYSDECL_H

#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>

struct ksigaction;

long sys_accept4(int fd, struct sockaddr *sa, unsigned *len, int flags);
long sys_access(const char *path, int mode);
long sys_arch_prctl(int code, uint64_t addr);
long sys_bind(int fd, const struct sockaddr *sa, unsigned len);
long sys_brk(uintptr_t want);
long sys_chdir(const char *path);
long sys_clock_getres(clockid_t clk, struct timespec *ts);
long sys_clock_gettime(clockid_t clk, struct timespec *ts);
long sys_clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                         struct timespec *rem);
long sys_close(int fd);
long sys_connect(int fd, const struct sockaddr *sa, unsigned len);
long sys_creat(const char *path, mode_t mode);
long sys_dup(int fd);
long sys_dup2(int old, int new);
long sys_dup3(int old, int new, int flags);
long sys_epoll_create(int size);
long sys_epoll_create1(int flags);
long sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
long sys_epoll_pwait(int epfd, struct epoll_event *out, int max, int timeout_ms, const void *sig,
                     size_t sigsz);
long sys_epoll_pwait2(int epfd, struct epoll_event *out, int max, const struct timespec *ts,
                      const void *sig, size_t sigsz);
long sys_epoll_wait(int epfd, struct epoll_event *out, int max, int timeout_ms);
long sys_eventfd(unsigned initval);
long sys_eventfd2(unsigned initval, int flags);
long sys_faccessat(int dirfd, const char *path, int mode, int flags);
long sys_fchdir(int fd);
long sys_fchmod(int fd, mode_t mode);
long sys_fchmodat(int dirfd, const char *path, mode_t mode);
long sys_fcntl(int fd, int cmd, long arg);
long sys_fstat(int fd, struct stat *st);
long sys_fstatfs(int fd, struct statfs *s);
long sys_fsync(int fd);
long sys_ftruncate(int fd, off_t len);
long sys_futex(int *uaddr, int op, int val, const struct timespec *timeout);
long sys_getcwd(char *buf, size_t size);
long sys_getdents64(int fd, void *buf, size_t len);
long sys_getpeername(int fd, struct sockaddr *sa, unsigned *len);
long sys_getrandom(void *buf, size_t len, unsigned flags);
long sys_getrusage(int who, struct rusage *ru);
long sys_getsockname(int fd, struct sockaddr *sa, unsigned *len);
long sys_getsockopt(int fd, int level, int opt, void *val, unsigned *len);
long sys_gettimeofday(struct timeval *tv, void *tz);
long sys_ioctl(int fd, unsigned long req, void *arg);
long sys_kill(int pid, int sig);
long sys_listen(int fd, int backlog);
long sys_lseek(int fd, off_t off, int whence);
long sys_lstat(const char *path, struct stat *st);
long sys_madvise(uintptr_t addr, size_t len, int advice);
long sys_mincore(uintptr_t addr, size_t len, unsigned char *vec);
long sys_mkdir(const char *path, mode_t mode);
long sys_mkdirat(int dirfd, const char *path, mode_t mode);
long sys_mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, off_t off);
long sys_mprotect(uintptr_t addr, size_t len, int prot);
long sys_mremap(uintptr_t old, size_t oldlen, size_t newlen, int flags, uintptr_t new_addr);
long sys_msync(uintptr_t addr, size_t len, int flags);
long sys_munmap(uintptr_t addr, size_t len);
long sys_nanosleep(const struct timespec *req, struct timespec *rem);
long sys_newfstatat(int dirfd, const char *path, struct stat *st, int flags);
long sys_open(const char *path, int flags, mode_t mode);
long sys_openat(int dirfd, const char *path, int flags, mode_t mode);
long sys_pause(void);
long sys_pipe(int fdv[2]);
long sys_pipe2(int fdv[2], int flags);
long sys_poll(struct pollfd *p, unsigned long n, int timeout_ms);
long sys_ppoll(struct pollfd *p, unsigned long n, const struct timespec *ts, const void *sigmask,
               size_t sigsz);
long sys_prctl(int op, unsigned long a2);
long sys_pread(int fd, void *buf, size_t len, off_t off);
long sys_prlimit64(int pid, int res, const struct rlimit *nw, struct rlimit *old);
long sys_pselect6(int n, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
                  const void *sig);
long sys_pwrite(int fd, const void *buf, size_t len, off_t off);
long sys_read(int fd, void *buf, size_t len);
long sys_readlinkat(int dirfd, const char *path, char *buf, size_t size);
long sys_readv(int fd, const struct iovec *iov, int cnt);
long sys_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa, unsigned *salen);
long sys_recvmsg(int fd, struct msghdr *m, int flags);
long sys_rename(const char *o, const char *n);
long sys_renameat2(int odirfd, const char *opath, int ndirfd, const char *npath, unsigned flags);
long sys_rmdir(const char *path);
long sys_rt_sigaction(int sig, const struct ksigaction *act, struct ksigaction *old, size_t sz);
long sys_rt_sigprocmask(int how, const uint64_t *set, uint64_t *old, size_t sz);
long sys_sched_getaffinity(int pid, size_t len, unsigned long *mask);
long sys_select(int n, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv);
long sys_sendmsg(int fd, const struct msghdr *m, int flags);
long sys_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
                unsigned salen);
long sys_setsockopt(int fd, int level, int opt, const void *val, unsigned len);
long sys_sendfile(int out, int in, off_t *off, size_t count);
long sys_copy_file_range(int in, off_t *off_in, int out, off_t *off_out, size_t count,
                         unsigned flags);
long sys_shutdown(int fd, int how);
long sys_socket(int domain, int type, int proto);
long sys_socketpair(int domain, int type, int proto, int sv[2]);
long sys_stat(const char *path, struct stat *st);
long sys_statfs(const char *path, struct statfs *s);
long sys_statx(int dirfd, const char *path, int flags, unsigned mask, void *buf);
long sys_symlinkat(const char *target, int dirfd, const char *path);
long sys_sysinfo(struct sysinfo *si);
long sys_tgkill(int tgid, int tid, int sig);
long sys_time(time_t *t);
long sys_times(struct tms *t);
long sys_tkill(int tid, int sig);
long sys_truncate(const char *path, off_t len);
long sys_umask(mode_t mask);
long sys_uname(struct utsname *u);
long sys_unlink(const char *path);
long sys_unlinkat(int dirfd, const char *path, int flags);
long sys_utimensat(int dirfd, const char *path, const struct timespec *ts, int flags);
long sys_write(int fd, const void *buf, size_t len);
long sys_writev(int fd, const struct iovec *iov, int cnt);
__attribute__((noreturn)) void svcos_exit(int status);
void svcos_check_stack(void);

#endif
