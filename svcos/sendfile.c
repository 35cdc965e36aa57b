/* sendfile.c: sendfile and copy_file_range between any two descriptors, through a bounce buffer. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>

#define CHUNK 65536

/* Moves up to `count` bytes from `in` (at *off if given, else its position) to `out`. */
static long copy_fds(int out, int in, off_t *off, size_t count)
{
    struct file *fi = fd_get(in), *fo = fd_get(out);
    if (!fi || !fo)
        return -EBADF;
    if ((fi->flags & O_ACCMODE) == O_WRONLY || (fo->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (off && !fi->ops->pread)
        return -ESPIPE;
    unsigned char *buf = kmalloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    size_t done = 0;
    long r = 0;
    while (done < count) {
        size_t n = count - done < CHUNK ? count - done : CHUNK;
        r = off ? fi->ops->pread(fi, buf, n, *off) : fd_read_file(fi, buf, n);
        if (r <= 0)
            break;
        long w = fd_write_file(fo, buf, (size_t)r);
        if (w < 0) {
            r = w;
            break;
        }
        done += (size_t)w;
        if (off)
            *off += w;
        else if (w < r && fi->ops->lseek)
            fi->ops->lseek(fi, w - r, SEEK_CUR); /* give back what was not written */
        if (w < r || (size_t)r < n)
            break;
    }
    kfree(buf);
    return done ? (long)done : r;
}

long sys_sendfile(int out, int in, off_t *off, size_t count)
{
    return copy_fds(out, in, off, count);
}

long sys_copy_file_range(int in, off_t *off_in, int out, off_t *off_out, size_t count,
                         unsigned flags)
{
    if (flags)
        return -EINVAL;
    if (off_out) { /* write at an offset: only regular files have one */
        struct file *fo = fd_get(out);
        if (!fo)
            return -EBADF;
        off_t saved = fo->pos;
        fo->pos = *off_out;
        long r = copy_fds(out, in, off_in, count);
        if (r > 0)
            *off_out += r;
        fo->pos = saved;
        return r;
    }
    return copy_fds(out, in, off_in, count);
}
