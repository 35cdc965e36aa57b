/* pipe.c: pipes (pipe, pipe2): a bounded byte queue with one read end and one write end. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>

#define PIPE_LIMIT  65536
#define PIPE_ATOMIC 4096 /* PIPE_BUF */

struct pipe {
    struct ring q;
    struct file *rd, *wr; /* NULL once that end is closed */
};

static long p_read(struct file *f, void *buf, size_t len)
{
    struct pipe *p = f->priv;
    if (len == 0)
        return 0;
    if (!p->q.len)
        return p->wr ? -EAGAIN : 0;
    long n = (long)ring_get(&p->q, buf, len);
    file_changed(p->wr);
    return n;
}

static long p_write(struct file *f, const void *buf, size_t len)
{
    struct pipe *p = f->priv;
    if (!p->rd)
        return -EPIPE;
    if (len == 0)
        return 0;
    size_t space = ring_space(&p->q);
    if (space == 0 || (len <= PIPE_ATOMIC && space < len))
        return -EAGAIN;
    long n = (long)ring_put(&p->q, buf, len);
    if (n == 0)
        return -EAGAIN;
    file_changed(p->rd);
    return n;
}

static unsigned p_poll(struct file *f)
{
    struct pipe *p = f->priv;
    if (f == p->rd)
        return (p->q.len ? POLLIN : 0) | (p->wr ? 0 : POLLHUP);
    return (ring_space(&p->q) >= PIPE_ATOMIC ? POLLOUT : 0) | (p->rd ? 0 : POLLERR);
}

static long p_stat(struct file *f, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFIFO | 0600;
    st->st_nlink = 1;
    st->st_blksize = 4096;
    st->st_ino = (ino_t)(uintptr_t)f->priv;
    return 0;
}

static long p_ioctl(struct file *f, unsigned long req, void *arg)
{
    struct pipe *p = f->priv;
    if (req != FIONREAD)
        return -ENOTTY;
    *(int *)arg = (int)p->q.len;
    return 0;
}

static void p_release(struct file *f)
{
    struct pipe *p = f->priv;
    if (f == p->rd) {
        p->rd = NULL;
        file_changed(p->wr);
    } else {
        p->wr = NULL;
        file_changed(p->rd);
    }
    if (!p->rd && !p->wr) {
        ring_free(&p->q);
        kfree(p);
    }
}

static const struct file_ops pipe_ops = {
    .kind = "pipe",
    .read = p_read,
    .write = p_write,
    .stat = p_stat,
    .ioctl = p_ioctl,
    .poll = p_poll,
    .release = p_release,
};

long sys_pipe2(int fdv[2], int flags)
{
    if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
        return -EINVAL;
    struct pipe *p = kzalloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    ring_init(&p->q, PIPE_LIMIT);
    int nb = flags & O_NONBLOCK, cloexec = !!(flags & O_CLOEXEC);
    p->rd = file_new(&pipe_ops, O_RDONLY | nb, p);
    p->wr = file_new(&pipe_ops, O_WRONLY | nb, p);
    if (!p->rd || !p->wr) {
        kfree(p->rd);
        kfree(p->wr);
        kfree(p);
        return -ENOMEM;
    }
    struct file *w = p->wr;
    int r = fd_install(p->rd, cloexec);
    if (r < 0) {
        file_put(w);
        return r;
    }
    int wfd = fd_install(w, cloexec);
    if (wfd < 0) {
        sys_close(r);
        return wfd;
    }
    fdv[0] = r;
    fdv[1] = wfd;
    return 0;
}

long sys_pipe(int fdv[2])
{
    return sys_pipe2(fdv, 0);
}
