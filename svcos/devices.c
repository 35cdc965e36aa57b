/* devices.c: character devices in /dev: null, zero, full, random, urandom, console, tty. */
#include "svcos.h"
#include <errno.h>
#include <poll.h>
#include <string.h>

static long null_read(struct file *f, void *buf, size_t len)
{
    (void)f, (void)buf, (void)len;
    return 0;
}

static long sink_write(struct file *f, const void *buf, size_t len)
{
    (void)f, (void)buf;
    return (long)len;
}

static long full_write(struct file *f, const void *buf, size_t len)
{
    (void)f, (void)buf, (void)len;
    return -ENOSPC;
}

static long zero_read(struct file *f, void *buf, size_t len)
{
    (void)f;
    memset(buf, 0, len);
    return (long)len;
}

static long zero_pread(struct file *f, void *buf, size_t len, off_t off)
{
    (void)off;
    return zero_read(f, buf, len);
}

static long rand_read(struct file *f, void *buf, size_t len)
{
    (void)f;
    random_bytes(buf, len);
    return (long)len;
}

static long any_lseek(struct file *f, off_t off, int whence)
{
    (void)f, (void)off, (void)whence;
    return 0;
}

static unsigned always(struct file *f)
{
    (void)f;
    return POLLIN | POLLOUT;
}

static const struct file_ops null_ops = {.kind = "/dev/null",
                                         .read = null_read,
                                         .write = sink_write,
                                         .lseek = any_lseek,
                                         .poll = always};
static const struct file_ops zero_ops = {.kind = "/dev/zero",
                                         .read = zero_read,
                                         .write = sink_write,
                                         .pread = zero_pread,
                                         .lseek = any_lseek,
                                         .poll = always};
static const struct file_ops full_ops = {.kind = "/dev/full",
                                         .read = zero_read,
                                         .write = full_write,
                                         .lseek = any_lseek,
                                         .poll = always};
static const struct file_ops random_ops = {.kind = "/dev/urandom",
                                           .read = rand_read,
                                           .write = sink_write,
                                           .lseek = any_lseek,
                                           .poll = always};

static void add(const char *path, const struct file_ops *ops, mode_t perm)
{
    struct vnode *n = vfs_create_path(path, S_IFCHR | perm);
    if (!n)
        kpanic("cannot create %s", path);
    n->dev = ops;
}

void devices_init(void)
{
    add("/dev/null", &null_ops, 0666);
    add("/dev/zero", &zero_ops, 0666);
    add("/dev/full", &full_ops, 0666);
    add("/dev/random", &random_ops, 0666);
    add("/dev/urandom", &random_ops, 0666);
    add("/dev/console", &console_ops, 0620);
    add("/dev/tty", &console_ops, 0666);
    vfs_create_path("/tmp", S_IFDIR | 01777);
}
