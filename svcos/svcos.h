/* svcos.h: svcos's internal interfaces, one section per module; Linux system calls as C functions.
 */
#ifndef SVCOS_SVCOS_H
#define SVCOS_SVCOS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <vigil/hypercall.h>

/*
 * Rules for everything in svcos: it runs inside musl's system-call path, so
 * no errno, no stdio streams, no malloc (use kmalloc), and results follow the
 * raw Linux convention (>= 0 or -errno).  Code may run before TLS exists.
 */

#define PAGE_SIZE    4096ul
#define PAGE_UP(x)   (((uintptr_t)(x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define PAGE_DOWN(x) ((uintptr_t)(x) & ~(PAGE_SIZE - 1))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NS_PER_S     1000000000ull

/* ---- hypercall.c: the hv client side ---- */
void hv_console_write(const void *buf, size_t len);
long hv_console_read(void *buf, size_t len);
void hv_time(uint64_t *wall_ns, uint64_t *mono_ns);
uint64_t hv_wait(uint64_t deadline_ns, uint64_t events);
__attribute__((noreturn)) void hv_halt(uint64_t status, const char *msg);
void hv_heartbeat(uint64_t counter);
long hv_version(uint64_t *features);
/* Arms (arm != 0) or removes hv's exception gates for the stubs in guests/rt/fault_entry.S;
 * returns the hypercall's ret. */
long hv_fault_handlers(int arm);
/* SVC_CALL (the service channel, svcchan.c); the result is in a->ret. */
void hv_svc_call(struct vigil_hc_svc_call *a);

/* ---- start.c ---- */
extern const struct vigil_boot_info *svcos_boot_info;
extern uint64_t svcos_entry_tsc; /* the TSC when vCPU 0 entered svcos */
/* Returns the value of `key=` on the boot command line (length in *len), or NULL. */
const char *svcos_cmdline_get(const char *key, size_t *len);
uint64_t svcos_cmdline_u64(const char *key, uint64_t dflt);

/* ---- console.c ---- */
void console_init(void);
/* Kernel log: "svcos: ..." on the console, newline added. */
void klog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void kpanic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const struct file_ops console_ops;

/* ---- cpu.c ---- */
struct cpu_features {
    int rdrand, rdseed, fsgsbase, invariant_tsc;
    uint32_t leaf1_edx, leaf1_ecx;
};
extern struct cpu_features cpu;
void cpu_init(void);
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* ---- mem.c / kheap.c ---- */
void mem_setup(const struct vigil_boot_info *bi);
void *pages_alloc(size_t npages); /* zeroed; NULL when out of memory */
void pages_free(void *p, size_t npages);
int pages_claim(uintptr_t addr, size_t npages);   /* zeroed; 0 or -ENOMEM/-EINVAL */
int pages_replace(uintptr_t addr, size_t npages); /* MAP_FIXED: whatever was there, zeroed */
int mem_range_ok(uintptr_t addr, size_t len);     /* inside a FREE region */
struct mem_stats {
    uint64_t total_pages, used_pages, peak_pages;
};
void mem_stats(struct mem_stats *st);
void *kmalloc(size_t n);
void *kzalloc(size_t n);
void kfree(void *p);
char *kstrndup(const char *s, size_t n);

/* ---- time.c ---- */
void time_init(const struct vigil_boot_info *bi);
uint64_t time_mono_ns(void);
uint64_t time_wall_ns(void);
uint64_t time_tsc_hz(void);
uint64_t time_tsc_to_mono(uint64_t tsc); /* a TSC reading as monotonic ns */

/* ---- random.c ---- */
void random_init(void);
void random_bytes(void *buf, size_t len);

/* ---- loop.c: the one place svcos sleeps ---- */
/* Sleeps in hv's WAIT until one of `hv_events` is pending or `deadline_ns`
 * (monotonic; UINT64_MAX: none) passes, after running the registered pollers.
 * Returns the pending events.  Spurious returns are allowed. */
uint64_t loop_wait(uint64_t deadline_ns, uint64_t hv_events);
struct loop_source {
    /* Moves external input into svcos objects; returns nonzero if anything changed. */
    int (*poll)(void);
    /* The earliest monotonic deadline this source needs to run at (UINT64_MAX: none). */
    uint64_t (*deadline)(void);
    uint64_t hv_events; /* events that mean this source has input */
    struct loop_source *next;
};
void loop_add_source(struct loop_source *src);
int loop_poll_sources(void);

/* ---- fd.c: descriptors and open files ---- */
struct file;
struct sock_ops;
struct file_ops {
    const char *kind;
    long (*read)(struct file *f, void *buf, size_t len);
    long (*write)(struct file *f, const void *buf, size_t len);
    long (*pread)(struct file *f, void *buf, size_t len, off_t off);
    long (*pwrite)(struct file *f, const void *buf, size_t len, off_t off);
    long (*lseek)(struct file *f, off_t off, int whence);
    long (*stat)(struct file *f, struct stat *st);
    long (*getdents)(struct file *f, void *buf, size_t len);
    long (*ioctl)(struct file *f, unsigned long req, void *arg);
    long (*truncate)(struct file *f, off_t len);
    unsigned (*poll)(struct file *f); /* POLL* bits ready now */
    /* hv events that could change this file's readiness, plus WAKE_LOOP if a
     * loop source (the NIC) could; 0: only this program can (pipes, eventfds,
     * socketpairs), so waiting for it without a timeout is a deadlock. */
    uint64_t (*wake_events)(struct file *f);
    void (*release)(struct file *f);
    const struct sock_ops *sock;
};
struct file {
    const struct file_ops *ops;
    int refs;
    int flags; /* O_ACCMODE, O_NONBLOCK, O_APPEND */
    off_t pos;
    void *priv;
    struct vnode *node;      /* for files opened by path */
    uint64_t gen;            /* bumped on every readiness change (epoll edge triggering) */
    struct epitem *watchers; /* epoll registrations of this file */
};
#define FD_MAX    1024
#define WAKE_LOOP (1ull << 63)
struct file *file_new(const struct file_ops *ops, int flags, void *priv);
struct file *file_get(struct file *f);
void file_put(struct file *f);
void file_changed(struct file *f);
struct file *fd_get(int fd);
int fd_install(struct file *f, int cloexec); /* consumes a reference on failure too */
int fd_install_at(int fd, struct file *f, int cloexec);
unsigned file_poll(struct file *f);
long fd_read_file(struct file *f, void *buf, size_t len);
long fd_write_file(struct file *f, const void *buf, size_t len);

/* ---- socket.c: the socket system calls over per-family operations ---- */
struct sockaddr;
struct msghdr;
struct sock_ops {
    /* Never block: -EAGAIN when nothing can move now. */
    long (*send)(struct file *f, const void *buf, size_t len, int flags);
    long (*recv)(struct file *f, void *buf, size_t len, int flags);
    long (*shutdown)(struct file *f, int how);
    long (*getsockopt)(struct file *f, int level, int opt, void *val, unsigned *len);
    long (*setsockopt)(struct file *f, int level, int opt, const void *val, unsigned len);
    long (*getsockname)(struct file *f, struct sockaddr *sa, unsigned *len);
    long (*getpeername)(struct file *f, struct sockaddr *sa, unsigned *len);
    long (*bind)(struct file *f, const struct sockaddr *sa, unsigned len);
    long (*connect)(struct file *f, const struct sockaddr *sa,
                    unsigned len); /* may return -EINPROGRESS */
    long (*listen)(struct file *f, int backlog);
    long (*accept)(struct file *f, struct file **out, struct sockaddr *sa,
                   unsigned *len); /* -EAGAIN */
    /* Datagram sockets (optional; when set they serve every send and receive call): one
     * datagram per call, gathered from / scattered into m->msg_iov, the peer's address in
     * m->msg_name; recvmsg sets MSG_TRUNC in m->msg_flags and returns the datagram's length
     * when the caller passed MSG_TRUNC. */
    long (*sendmsg)(struct file *f, const struct msghdr *m, int flags);
    long (*recvmsg)(struct file *f, struct msghdr *m, int flags);
    /* SO_SNDTIMEO / SO_RCVTIMEO (optional): how long a blocking call may wait, in ns; 0 is
     * forever. */
    uint64_t (*timeout)(struct file *f, int sending);
};
/* A protocol family (the netstack registers AF_INET/AF_INET6). */
typedef long (*socket_create_fn)(int type, int proto, struct file **out);
int socket_register_family(int domain, socket_create_fn create);
/* Copies a socket address out the way the kernel does (truncating, full length in *len). */
void sockaddr_out(struct sockaddr *dst, unsigned *dstlen, const void *src, unsigned srclen);
long unix_socketpair(int type, int proto, struct file *out[2]);

/* ---- the netstack (netstack/, linked into programs that want TCP/IP) ---- */
/* Brings up lwIP and registers AF_INET/AF_INET6; called at boot when linked in. */
void netstack_init(void) __attribute__((weak));

/* ---- poll.c: readiness and blocking ---- */
/* Blocks until `f` has one of `events` or `deadline_ns` passes: 0, or -ETIMEDOUT. */
long poll_block(struct file *f, unsigned events, uint64_t deadline_ns);
/* A relative timeout (NULL: none) as a CLOCK_MONOTONIC deadline: UINT64_MAX for none, 0 for a
 * zero timeout (look once, never wait).  0, or -EINVAL for a malformed timespec. */
long ts_to_deadline(const void *timespec_user, uint64_t *deadline_ns);

/* ---- epoll.c ---- */
void epoll_forget(struct file *f); /* the file is going away: drop its registrations */

/* ---- ramfs.c: the in-memory file tree (cpio contents + writable files) ---- */
struct vnode {
    mode_t mode;
    ino_t ino;
    nlink_t nlink;
    struct vnode *parent, *next, *children; /* directory tree */
    char *name;
    unsigned char *data;         /* writable contents (owned) */
    const unsigned char *rodata; /* or contents in the image (cpio), copied on first write */
    size_t size, cap;
    const struct file_ops *dev; /* character devices */
    char *link;                 /* symbolic links */
    struct timespec atime, mtime, ctime;
    int opens, detached;
};
struct vnode *vnode_root(void);
struct vnode *vnode_lookup(struct vnode *dir, const char *name, size_t len);
struct vnode *vnode_create(struct vnode *dir, const char *name, size_t len,
                           mode_t mode); /* NULL: ENOMEM */
void vnode_detach(struct vnode *n);      /* out of its directory; freed when no longer open */
void vnode_attach(struct vnode *dir, struct vnode *n, const char *name, size_t len);
void vnode_open(struct vnode *n);
void vnode_close(struct vnode *n);
long vnode_read(struct vnode *n, void *buf, size_t len, off_t off);
long vnode_write(struct vnode *n, const void *buf, size_t len, off_t off);
long vnode_truncate(struct vnode *n, off_t len);
void vnode_stat(const struct vnode *n, struct stat *st);
void vnode_touch(struct vnode *n);
void vnode_set_rodata(struct vnode *n, const void *data, size_t len);
void vnode_set_mtime(struct vnode *n, uint64_t sec);

/* ---- vfs.c / file.c: paths and open files of the tree ---- */
void vfs_init(void);
/* Creates every missing directory of `path`, then the node (or returns the existing one). */
struct vnode *vfs_create_path(const char *path, mode_t mode);
long vfs_open_node(struct vnode *n, int flags, struct file **out);
/* The directory a path starts from: "/" for absolute paths, else dirfd (AT_FDCWD: the cwd). */
long vfs_base(int dirfd, const char *path, struct vnode **out);
/* Walks `path` from `base`, following symbolic links (the last one only if follow_last). */
long vfs_walk(struct vnode *base, const char *path, int follow_last, struct vnode **out);
/* Resolves all but the last component: *dir, and the last name (not NUL-terminated; len 0 for "/").
 */
long vfs_split(int dirfd, const char *path, struct vnode **dir, const char **name, size_t *len);
/* Whether a path component is "." or "..". */
int vfs_is_dots(const char *name, size_t len);
mode_t vfs_umask(void);
/* Resolves dirfd + path for the *at calls; with AT_EMPTY_PATH and "" the descriptor itself (*fout).
 */
long vfs_lookup_at(int dirfd, const char *path, int flags, struct vnode **out, struct file **fout);

/* ---- cpio.c / devices.c ---- */
void cpio_load(const void *archive, size_t len);
void devices_init(void);

/* ---- ring.c: byte queues for pipes and sockets ---- */
struct ring {
    unsigned char *buf;
    size_t cap, head, len, limit;
};
void ring_init(struct ring *r, size_t limit);
void ring_free(struct ring *r);
size_t ring_put(struct ring *r, const void *data, size_t len);
size_t ring_get(struct ring *r, void *data, size_t len);
size_t ring_space(const struct ring *r);

/* ---- syscall.c ---- */
long __vigil_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);
void syscall_log_unknown(long n);

/* System-call implementations, grouped by module.  Arguments are already
 * typed; pointers come from the program and are used as given (one address
 * space, no protection boundary inside the VM). */
#include "sysdecl.h"

#endif
