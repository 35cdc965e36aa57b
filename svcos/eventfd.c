/* eventfd.c: eventfd and eventfd2: a 64-bit counter readable as a descriptor (EFD_SEMAPHORE,
 * EFD_NONBLOCK). */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>

struct efd {
    uint64_t count;
    int semaphore;
};

static long e_read(struct file *f, void *buf, size_t len)
{
    struct efd *e = f->priv;
    if (len < 8)
        return -EINVAL;
    if (!e->count)
        return -EAGAIN;
    uint64_t v = e->semaphore ? 1 : e->count;
    e->count -= v;
    memcpy(buf, &v, 8);
    file_changed(f);
    return 8;
}

static long e_write(struct file *f, const void *buf, size_t len)
{
    struct efd *e = f->priv;
    uint64_t v;
    if (len < 8)
        return -EINVAL;
    memcpy(&v, buf, 8);
    if (v == UINT64_MAX)
        return -EINVAL;
    if (v > UINT64_MAX - 1 - e->count)
        return -EAGAIN;
    e->count += v;
    file_changed(f);
    return 8;
}

static unsigned e_poll(struct file *f)
{
    struct efd *e = f->priv;
    return (e->count ? POLLIN : 0) | (e->count < UINT64_MAX - 1 ? POLLOUT : 0);
}

static long e_stat(struct file *f, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = 0600; /* anonymous inode, as on Linux */
    st->st_nlink = 1;
    st->st_blksize = 4096;
    st->st_ino = (ino_t)(uintptr_t)f;
    return 0;
}

static void e_release(struct file *f)
{
    kfree(f->priv);
}

static const struct file_ops eventfd_ops = {
    .kind = "eventfd",
    .read = e_read,
    .write = e_write,
    .stat = e_stat,
    .poll = e_poll,
    .release = e_release,
};

long sys_eventfd2(unsigned initval, int flags)
{
    if (flags & ~(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC))
        return -EINVAL;
    struct efd *e = kzalloc(sizeof *e);
    if (!e)
        return -ENOMEM;
    e->count = initval;
    e->semaphore = !!(flags & EFD_SEMAPHORE);
    struct file *f = file_new(&eventfd_ops, O_RDWR | (flags & EFD_NONBLOCK ? O_NONBLOCK : 0), e);
    if (!f) {
        kfree(e);
        return -ENOMEM;
    }
    return fd_install(f, !!(flags & EFD_CLOEXEC));
}

long sys_eventfd(unsigned initval)
{
    return sys_eventfd2(initval, 0);
}
