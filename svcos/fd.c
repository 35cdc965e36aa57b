/* fd.c: the descriptor table, open-file objects, and the system calls that work on any descriptor.
 */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

static struct fdent {
    struct file *f;
    int cloexec;
} fds[FD_MAX];

struct file *file_new(const struct file_ops *ops, int flags, void *priv)
{
    struct file *f = kzalloc(sizeof *f);
    if (!f)
        return NULL;
    f->ops = ops;
    f->refs = 1;
    f->flags = flags;
    f->priv = priv;
    return f;
}

struct file *file_get(struct file *f)
{
    f->refs++;
    return f;
}

void file_put(struct file *f)
{
    if (!f || --f->refs > 0)
        return;
    if (f->watchers)
        epoll_forget(f);
    if (f->ops->release)
        f->ops->release(f);
    if (f->node)
        vnode_close(f->node);
    kfree(f);
}

void file_changed(struct file *f)
{
    if (f)
        f->gen++;
}

struct file *fd_get(int fd)
{
    return fd >= 0 && fd < FD_MAX ? fds[fd].f : NULL;
}

int fd_install_at(int fd, struct file *f, int cloexec)
{
    struct file *old = fds[fd].f;
    fds[fd].f = f;
    fds[fd].cloexec = cloexec;
    file_put(old);
    return fd;
}

static int lowest_free(int from)
{
    for (int fd = from < 0 ? 0 : from; fd < FD_MAX; fd++)
        if (!fds[fd].f)
            return fd;
    return -EMFILE;
}

int fd_install(struct file *f, int cloexec)
{
    if (!f)
        return -ENOMEM;
    int fd = lowest_free(0);
    if (fd < 0) {
        file_put(f);
        return fd;
    }
    return fd_install_at(fd, f, cloexec);
}

unsigned file_poll(struct file *f)
{
    return f->ops->poll ? f->ops->poll(f) : (POLLIN | POLLOUT);
}

long fd_read_file(struct file *f, void *buf, size_t len)
{
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (!f->ops->read)
        return -EINVAL;
    for (;;) {
        long r = f->ops->read(f, buf, len);
        if (r != -EAGAIN || (f->flags & O_NONBLOCK))
            return r;
        poll_block(f, POLLIN, UINT64_MAX);
    }
}

long fd_write_file(struct file *f, const void *buf, size_t len)
{
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (!f->ops->write)
        return -EINVAL;
    size_t done = 0;
    for (;;) {
        long r = f->ops->write(f, (const char *)buf + done, len - done);
        if (r >= 0)
            done += (size_t)r;
        if (r >= 0 && (done == len || (f->flags & O_NONBLOCK)))
            return (long)done;
        if (r < 0 && (r != -EAGAIN || (f->flags & O_NONBLOCK)))
            return done ? (long)done : r;
        if (r == -EAGAIN || r == 0)
            poll_block(f, POLLOUT, UINT64_MAX);
    }
}

#define GET(fd)                                                                                    \
    struct file *f = fd_get(fd);                                                                   \
    if (!f)                                                                                        \
        return -EBADF;

long sys_read(int fd, void *buf, size_t len)
{
    GET(fd);
    return fd_read_file(f, buf, len);
}

long sys_write(int fd, const void *buf, size_t len)
{
    GET(fd);
    return fd_write_file(f, buf, len);
}

/* Vectors: later segments never block once something moved. */
long sys_readv(int fd, const struct iovec *iov, int cnt)
{
    GET(fd);
    if (cnt < 0 || cnt > 1024)
        return -EINVAL;
    if (f->ops->sock && f->ops->sock->recvmsg) { /* one datagram, scattered */
        struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)cnt};
        return sys_recvmsg(fd, &m, 0);
    }
    long total = 0;
    int saved = f->flags;
    for (int i = 0; i < cnt; i++) {
        if (!iov[i].iov_len)
            continue;
        long r = fd_read_file(f, iov[i].iov_base, iov[i].iov_len);
        if (r < 0) {
            f->flags = saved;
            return total ? total : r;
        }
        total += r;
        f->flags |= O_NONBLOCK;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    f->flags = saved;
    return total;
}

long sys_writev(int fd, const struct iovec *iov, int cnt)
{
    GET(fd);
    if (cnt < 0 || cnt > 1024)
        return -EINVAL;
    if (f->ops->sock && f->ops->sock->sendmsg) { /* one datagram, gathered */
        struct msghdr m = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)cnt};
        return sys_sendmsg(fd, &m, 0);
    }
    long total = 0;
    for (int i = 0; i < cnt; i++) {
        if (!iov[i].iov_len)
            continue;
        long r = fd_write_file(f, iov[i].iov_base, iov[i].iov_len);
        if (r < 0)
            return total ? total : r;
        total += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    return total;
}

long sys_pread(int fd, void *buf, size_t len, off_t off)
{
    GET(fd);
    if (off < 0)
        return -EINVAL;
    return f->ops->pread ? f->ops->pread(f, buf, len, off) : -ESPIPE;
}

long sys_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    GET(fd);
    if (off < 0)
        return -EINVAL;
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    return f->ops->pwrite ? f->ops->pwrite(f, buf, len, off) : -ESPIPE;
}

long sys_lseek(int fd, off_t off, int whence)
{
    GET(fd);
    return f->ops->lseek ? f->ops->lseek(f, off, whence) : -ESPIPE;
}

long sys_close(int fd)
{
    GET(fd);
    fds[fd].f = NULL;
    file_put(f);
    return 0;
}

long sys_dup3(int old, int new, int flags)
{
    GET(old);
    if (flags & ~O_CLOEXEC)
        return -EINVAL;
    if (new < 0 || new >= FD_MAX)
        return -EBADF;
    if (old == new)
        return -EINVAL;
    return fd_install_at(new, file_get(f), !!(flags & O_CLOEXEC));
}

long sys_dup2(int old, int new)
{
    GET(old);
    return old == new ? new : sys_dup3(old, new, 0);
}

static long dup_from(struct file *f, int from, int cloexec)
{
    if (from < 0 || from >= FD_MAX)
        return -EINVAL;
    int fd = lowest_free(from);
    return fd < 0 ? fd : fd_install_at(fd, file_get(f), cloexec);
}

long sys_dup(int fd)
{
    GET(fd);
    return dup_from(f, 0, 0);
}

long sys_fcntl(int fd, int cmd, long arg)
{
    GET(fd);
    switch (cmd) {
    case F_DUPFD:
        return dup_from(f, (int)arg, 0);
    case F_DUPFD_CLOEXEC:
        return dup_from(f, (int)arg, 1);
    case F_GETFD:
        return fds[fd].cloexec ? FD_CLOEXEC : 0;
    case F_SETFD:
        fds[fd].cloexec = !!(arg & FD_CLOEXEC);
        return 0;
    case F_GETFL:
        return f->flags;
    case F_SETFL:
        f->flags = (f->flags & ~(O_APPEND | O_NONBLOCK)) | ((int)arg & (O_APPEND | O_NONBLOCK));
        return 0;
    case F_GETLK: {
        struct flock *fl = (struct flock *)arg;
        fl->l_type = F_UNLCK; /* one program: nobody else holds locks */
        return 0;
    }
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
    case F_SETOWN:
    case F_SETSIG:
        return 0;
    case F_OFD_GETLK:
        ((struct flock *)arg)->l_type = F_UNLCK;
        return 0;
    case F_GETOWN:
    case F_GETSIG:
        return 0;
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:
        return 65536;
    default:
        return -EINVAL;
    }
}

long sys_ioctl(int fd, unsigned long req, void *arg)
{
    GET(fd);
    switch (req) {
    case FIONBIO:
        f->flags = *(int *)arg ? f->flags | O_NONBLOCK : f->flags & ~O_NONBLOCK;
        return 0;
    case FIOCLEX:
    case FIONCLEX:
        fds[fd].cloexec = req == FIOCLEX;
        return 0;
    default:
        return f->ops->ioctl ? f->ops->ioctl(f, req, arg) : -ENOTTY;
    }
}

long sys_fstat(int fd, struct stat *st)
{
    GET(fd);
    if (!f->ops->stat && f->node) {
        vnode_stat(f->node, st);
        return 0;
    }
    if (!f->ops->stat) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFIFO | 0600;
        st->st_nlink = 1;
        st->st_blksize = 4096;
        return 0;
    }
    return f->ops->stat(f, st);
}

long sys_ftruncate(int fd, off_t len)
{
    GET(fd);
    if (len < 0)
        return -EINVAL;
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    return f->ops->truncate ? f->ops->truncate(f, len) : -EINVAL;
}

long sys_fsync(int fd)
{
    GET(fd);
    return 0;
}

long sys_getdents64(int fd, void *buf, size_t len)
{
    GET(fd);
    return f->ops->getdents ? f->ops->getdents(f, buf, len) : -ENOTDIR;
}
