/* fsops.c: the path system calls that change the tree (mkdir, unlink, rmdir, rename, symlink,
 * truncate, chmod, utimes) plus statx and statfs. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>

long sys_mkdirat(int dirfd, const char *path, mode_t mode)
{
    struct vnode *dir;
    const char *name;
    size_t len;
    long r = vfs_split(dirfd, path, &dir, &name, &len);
    if (r < 0)
        return r;
    if (len == 0 || vfs_is_dots(name, len) || vnode_lookup(dir, name, len))
        return -EEXIST;
    return vnode_create(dir, name, len, S_IFDIR | (mode & 07777 & ~vfs_umask())) ? 0 : -ENOMEM;
}

long sys_mkdir(const char *path, mode_t mode)
{
    return sys_mkdirat(AT_FDCWD, path, mode);
}

long sys_unlinkat(int dirfd, const char *path, int flags)
{
    struct vnode *dir;
    const char *name;
    size_t len;
    if (flags & ~AT_REMOVEDIR)
        return -EINVAL;
    long r = vfs_split(dirfd, path, &dir, &name, &len);
    if (r < 0)
        return r;
    if (len == 0)
        return -EBUSY;
    if (len == 1 && name[0] == '.')
        return -EINVAL;
    if (len == 2 && name[0] == '.' && name[1] == '.')
        return -ENOTEMPTY;
    struct vnode *n = vnode_lookup(dir, name, len);
    if (!n)
        return -ENOENT;
    if (flags & AT_REMOVEDIR) {
        if (!S_ISDIR(n->mode))
            return -ENOTDIR;
        if (n->children)
            return -ENOTEMPTY;
    } else if (S_ISDIR(n->mode)) {
        return -EISDIR;
    }
    vnode_detach(n);
    return 0;
}

long sys_unlink(const char *path)
{
    return sys_unlinkat(AT_FDCWD, path, 0);
}

long sys_rmdir(const char *path)
{
    return sys_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

long sys_renameat2(int odirfd, const char *opath, int ndirfd, const char *npath, unsigned flags)
{
    struct vnode *odir, *ndir;
    const char *oname, *nname;
    size_t olen, nlen;
    if (flags & ~1u) /* RENAME_NOREPLACE only */
        return -EINVAL;
    long r = vfs_split(odirfd, opath, &odir, &oname, &olen);
    if (r >= 0)
        r = vfs_split(ndirfd, npath, &ndir, &nname, &nlen);
    if (r < 0)
        return r;
    if (!olen || !nlen || vfs_is_dots(oname, olen) || vfs_is_dots(nname, nlen))
        return -EBUSY;
    struct vnode *src = vnode_lookup(odir, oname, olen), *dst = vnode_lookup(ndir, nname, nlen);
    if (!src)
        return -ENOENT;
    if (src == dst)
        return 0;
    if (dst && (flags & 1u))
        return -EEXIST;
    if (S_ISDIR(src->mode)) {
        for (struct vnode *a = ndir;; a = a->parent) {
            if (a == src)
                return -EINVAL; /* into itself */
            if (a == vnode_root())
                break;
        }
        if (dst && !S_ISDIR(dst->mode))
            return -ENOTDIR;
        if (dst && dst->children)
            return -ENOTEMPTY;
    } else if (dst && S_ISDIR(dst->mode)) {
        return -EISDIR;
    }
    if (dst)
        vnode_detach(dst);
    src->opens++; /* keep it alive between detach and attach */
    vnode_detach(src);
    vnode_attach(ndir, src, nname, nlen);
    src->opens--;
    return 0;
}

long sys_rename(const char *o, const char *n)
{
    return sys_renameat2(AT_FDCWD, o, AT_FDCWD, n, 0);
}

long sys_symlinkat(const char *target, int dirfd, const char *path)
{
    struct vnode *dir;
    const char *name;
    size_t len;
    long r = vfs_split(dirfd, path, &dir, &name, &len);
    if (r < 0)
        return r;
    if (!len || vnode_lookup(dir, name, len))
        return -EEXIST;
    char *t = kstrndup(target, strlen(target));
    struct vnode *n = t ? vnode_create(dir, name, len, S_IFLNK | 0777) : NULL;
    if (!n) {
        kfree(t);
        return -ENOMEM;
    }
    n->link = t;
    return 0;
}

long sys_truncate(const char *path, off_t len)
{
    struct vnode *n;
    struct file *f;
    long r = vfs_lookup_at(AT_FDCWD, path, 0, &n, &f);
    return r < 0 ? r : vnode_truncate(n, len);
}

static long chmod_at(int dirfd, const char *path, mode_t mode, int flags)
{
    struct vnode *n;
    struct file *f;
    long r = vfs_lookup_at(dirfd, path, flags, &n, &f);
    if (r < 0)
        return r;
    if (n)
        n->mode = (n->mode & S_IFMT) | (mode & 07777);
    return 0;
}

long sys_fchmodat(int dirfd, const char *path, mode_t mode)
{
    return chmod_at(dirfd, path, mode, 0);
}

long sys_fchmod(int fd, mode_t mode)
{
    return chmod_at(fd, "", mode, AT_EMPTY_PATH);
}

long sys_utimensat(int dirfd, const char *path, const struct timespec *ts, int flags)
{
    struct vnode *n;
    struct file *f;
    long r = vfs_lookup_at(dirfd, path ? path : "", path ? flags : flags | AT_EMPTY_PATH, &n, &f);
    if (r < 0)
        return r;
    if (!n)
        return 0;
    if (!ts) {
        vnode_touch(n);
        n->atime = n->mtime;
        return 0;
    }
    if (ts[0].tv_nsec != UTIME_OMIT)
        n->atime = ts[0];
    if (ts[1].tv_nsec != UTIME_OMIT)
        n->mtime = ts[1];
    return 0;
}

/* struct statx as the kernel defines it (musl 1.2.3 has none). */
struct kstatx_ts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};
struct kstatx {
    uint32_t mask, blksize;
    uint64_t attributes;
    uint32_t nlink, uid, gid;
    uint16_t mode, spare0;
    uint64_t ino, size, blocks, attributes_mask;
    struct kstatx_ts atime, btime, ctime, mtime;
    uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
    uint64_t mnt_id;
    uint32_t dio_mem_align, dio_offset_align;
    uint64_t spare3[12];
};
_Static_assert(sizeof(struct kstatx) == 256, "struct statx layout");

static struct kstatx_ts sx_ts(struct timespec t)
{
    return (struct kstatx_ts){.tv_sec = t.tv_sec, .tv_nsec = (uint32_t)t.tv_nsec};
}

long sys_statx(int dirfd, const char *path, int flags, unsigned mask, void *buf)
{
    (void)mask;
    struct stat st;
    long r = sys_newfstatat(dirfd, path, &st, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH));
    if (r < 0)
        return r;
    struct kstatx *sx = buf;
    memset(sx, 0, sizeof *sx);
    sx->mask = 0x7ff; /* STATX_BASIC_STATS */
    sx->blksize = (uint32_t)st.st_blksize;
    sx->nlink = (uint32_t)st.st_nlink;
    sx->mode = (uint16_t)st.st_mode;
    sx->ino = st.st_ino;
    sx->size = (uint64_t)st.st_size;
    sx->blocks = (uint64_t)st.st_blocks;
    sx->atime = sx_ts(st.st_atim);
    sx->ctime = sx_ts(st.st_ctim);
    sx->mtime = sx_ts(st.st_mtim);
    sx->rdev_major = (uint32_t)(st.st_rdev >> 8);
    sx->rdev_minor = (uint32_t)(st.st_rdev & 0xff);
    sx->dev_minor = (uint32_t)st.st_dev;
    return 0;
}

static void fill_statfs(struct statfs *s)
{
    struct mem_stats ms;
    mem_stats(&ms);
    memset(s, 0, sizeof *s);
    s->f_type = 0x01021994; /* TMPFS_MAGIC */
    s->f_bsize = s->f_frsize = 4096;
    s->f_blocks = ms.total_pages;
    s->f_bfree = s->f_bavail = ms.total_pages - ms.used_pages;
    s->f_files = 1u << 20;
    s->f_ffree = 1u << 19;
    s->f_namelen = 255;
}

long sys_statfs(const char *path, struct statfs *s)
{
    struct vnode *n;
    struct file *f;
    long r = vfs_lookup_at(AT_FDCWD, path, 0, &n, &f);
    if (r < 0)
        return r;
    fill_statfs(s);
    return 0;
}

long sys_fstatfs(int fd, struct statfs *s)
{
    if (!fd_get(fd))
        return -EBADF;
    fill_statfs(s);
    return 0;
}
