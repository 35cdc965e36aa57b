/* file.c: open regular files and directories of the tree: read, write, seek, stat, truncate,
 * getdents64. */
#include "svcos.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#ifndef SEEK_DATA
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif

static long f_read(struct file *f, void *buf, size_t len)
{
    long r = vnode_read(f->node, buf, len, f->pos);
    if (r > 0)
        f->pos += r;
    return r;
}

static long f_write(struct file *f, const void *buf, size_t len)
{
    if (f->flags & O_APPEND)
        f->pos = (off_t)f->node->size;
    long r = vnode_write(f->node, buf, len, f->pos);
    if (r > 0)
        f->pos += r;
    return r;
}

static long f_pread(struct file *f, void *buf, size_t len, off_t off)
{
    return vnode_read(f->node, buf, len, off);
}

static long f_pwrite(struct file *f, const void *buf, size_t len, off_t off)
{
    return vnode_write(f->node, buf, len, off);
}

static long f_lseek(struct file *f, off_t off, int whence)
{
    off_t base, size = (off_t)f->node->size;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = f->pos;
        break;
    case SEEK_END:
        base = size;
        break;
    case SEEK_DATA:
        if (off >= size || off < 0)
            return -ENXIO;
        return f->pos = off;
    case SEEK_HOLE:
        if (off >= size || off < 0)
            return -ENXIO;
        return f->pos = size;
    default:
        return -EINVAL;
    }
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
        return -EINVAL;
    f->pos = base + off;
    return f->pos;
}

static long f_stat(struct file *f, struct stat *st)
{
    vnode_stat(f->node, st);
    return 0;
}

static long f_truncate(struct file *f, off_t len)
{
    return vnode_truncate(f->node, len);
}

static const struct file_ops reg_ops = {
    .kind = "file",
    .read = f_read,
    .write = f_write,
    .pread = f_pread,
    .pwrite = f_pwrite,
    .lseek = f_lseek,
    .stat = f_stat,
    .truncate = f_truncate,
};

static unsigned char dtype(mode_t m)
{
    return S_ISDIR(m)   ? DT_DIR
           : S_ISREG(m) ? DT_REG
           : S_ISLNK(m) ? DT_LNK
           : S_ISCHR(m) ? DT_CHR
                        : DT_UNKNOWN;
}

/* Directory positions: 0 ".", 1 "..", 2 + i the i-th entry. */
static long d_getdents(struct file *f, void *buf, size_t len)
{
    struct vnode *dir = f->node;
    if (dir->detached)
        return 0;
    size_t used = 0;
    for (;;) {
        off_t pos = f->pos;
        const char *name;
        const struct vnode *n;
        if (pos == 0) {
            name = ".", n = dir;
        } else if (pos == 1) {
            name = "..", n = dir->parent;
        } else {
            n = dir->children;
            for (off_t i = 2; n && i < pos; i++)
                n = n->next;
            if (!n)
                break;
            name = n->name;
        }
        size_t nl = strlen(name);
        size_t reclen = (offsetof(struct dirent, d_name) + nl + 1 + 7) & ~(size_t)7;
        if (used + reclen > len) {
            if (!used)
                return -EINVAL;
            break;
        }
        struct dirent *d = (struct dirent *)((char *)buf + used);
        d->d_ino = n->ino;
        d->d_off = pos + 1;
        d->d_reclen = (unsigned short)reclen;
        d->d_type = dtype(n->mode);
        memcpy(d->d_name, name, nl + 1);
        used += reclen;
        f->pos = pos + 1;
    }
    return (long)used;
}

static long d_read(struct file *f, void *buf, size_t len)
{
    (void)f, (void)buf, (void)len;
    return -EISDIR;
}

static long d_lseek(struct file *f, off_t off, int whence)
{
    if (whence == SEEK_SET && off >= 0)
        return f->pos = off;
    if (whence == SEEK_CUR && f->pos + off >= 0)
        return f->pos += off;
    return -EINVAL;
}

static const struct file_ops dir_ops = {
    .kind = "directory",
    .read = d_read,
    .lseek = d_lseek,
    .stat = f_stat,
    .getdents = d_getdents,
};

long vfs_open_node(struct vnode *n, int flags, struct file **out)
{
    const struct file_ops *ops;
    if (S_ISDIR(n->mode))
        ops = &dir_ops;
    else if (S_ISCHR(n->mode) && n->dev)
        ops = n->dev;
    else if (S_ISREG(n->mode))
        ops = &reg_ops;
    else
        return -ENXIO;
    struct file *f = file_new(ops, flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH), NULL);
    if (!f)
        return -ENOMEM;
    f->node = n;
    vnode_open(n);
    *out = f;
    return 0;
}
