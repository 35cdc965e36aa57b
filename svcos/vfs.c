/* vfs.c: path resolution (cwd, dirfd, symlinks) and the path system calls that open and inspect:
 * openat, stat, statx, access, readlink, chdir, getcwd. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define MAX_LINK_DEPTH 8
#define PATH_MAX_LEN   4096

static struct vnode *cwd;
static mode_t umask_bits = 022;

void vfs_init(void)
{
    cwd = vnode_root();
    vnode_open(cwd);
}

mode_t vfs_umask(void)
{
    return umask_bits;
}

long vfs_base(int dirfd, const char *path, struct vnode **out)
{
    if (path && path[0] == '/') {
        *out = vnode_root();
        return 0;
    }
    if (dirfd == AT_FDCWD) {
        *out = cwd;
        return 0;
    }
    struct file *f = fd_get(dirfd);
    if (!f)
        return -EBADF;
    if (!f->node || !S_ISDIR(f->node->mode))
        return -ENOTDIR;
    *out = f->node;
    return 0;
}

static long walk(struct vnode *cur, const char *p, int follow_last, int depth, struct vnode **out)
{
    if (depth > MAX_LINK_DEPTH)
        return -ELOOP;
    if (*p == '/')
        cur = vnode_root();
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - p);
        if (len > 255)
            return -ENAMETOOLONG;
        if (!S_ISDIR(cur->mode))
            return -ENOTDIR;
        struct vnode *next;
        if (len == 1 && p[0] == '.')
            next = cur;
        else if (len == 2 && p[0] == '.' && p[1] == '.')
            next = cur->parent;
        else if (!(next = vnode_lookup(cur, p, len)))
            return -ENOENT;
        const char *rest = e;
        while (*rest == '/')
            rest++;
        int last = !*rest;
        if (S_ISLNK(next->mode) && (!last || follow_last || *e == '/')) {
            long r = walk(cur, next->link, 1, depth + 1, &next);
            if (r < 0)
                return r;
        }
        if (last && *e == '/' && !S_ISDIR(next->mode))
            return -ENOTDIR;
        cur = next;
        p = e;
    }
    *out = cur;
    return 0;
}

long vfs_walk(struct vnode *base, const char *path, int follow_last, struct vnode **out)
{
    if (!*path)
        return -ENOENT;
    if (strnlen(path, PATH_MAX_LEN) >= PATH_MAX_LEN)
        return -ENAMETOOLONG;
    return walk(base, path, follow_last, 0, out);
}

long vfs_split(int dirfd, const char *path, struct vnode **dir, const char **name, size_t *len)
{
    size_t n = strnlen(path, PATH_MAX_LEN);
    if (n == 0)
        return -ENOENT;
    if (n >= PATH_MAX_LEN)
        return -ENAMETOOLONG;
    size_t end = n;
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    struct vnode *base;
    long r = vfs_base(dirfd, path, &base);
    if (r < 0)
        return r;
    *name = path + start;
    *len = path[start] == '/' ? 0 : end - start;
    if (*len > 255)
        return -ENAMETOOLONG;
    if (start == 0) {
        *dir = base;
    } else {
        char tmp[PATH_MAX_LEN];
        memcpy(tmp, path, start);
        tmp[start] = 0;
        r = walk(base, tmp, 1, 0, dir);
        if (r < 0)
            return r;
    }
    return S_ISDIR((*dir)->mode) ? 0 : -ENOTDIR;
}

int vfs_is_dots(const char *name, size_t len)
{
    return (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.');
}

static long open_create(int dirfd, const char *path, int flags, mode_t mode, struct vnode **out)
{
    struct vnode *dir;
    const char *name;
    size_t len;
    long r = vfs_split(dirfd, path, &dir, &name, &len);
    if (r < 0)
        return r;
    if (len == 0 || vfs_is_dots(name, len))
        return -EISDIR;
    struct vnode *n = vnode_lookup(dir, name, len);
    if (n && (flags & O_EXCL))
        return -EEXIST;
    if (n && S_ISLNK(n->mode)) {
        if (flags & O_NOFOLLOW)
            return -ELOOP;
        return vfs_walk(dir, n->link, 1, out);
    }
    if (!n && !(n = vnode_create(dir, name, len, S_IFREG | (mode & 07777 & ~umask_bits))))
        return -ENOMEM;
    *out = n;
    return 0;
}

static long open_tmpfile(int dirfd, const char *path, mode_t mode, struct vnode **out)
{
    struct vnode *base, *dir;
    long r = vfs_base(dirfd, path, &base);
    if (r >= 0)
        r = vfs_walk(base, path, 1, &dir);
    if (r < 0)
        return r;
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    struct vnode *n = vnode_create(dir, "#tmpfile", 8, S_IFREG | (mode & 07777 & ~umask_bits));
    if (!n)
        return -ENOMEM;
    vnode_open(n);
    vnode_detach(n); /* unnamed; the open below keeps it alive */
    n->opens--;
    *out = n;
    return 0;
}

long sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    struct vnode *n, *base;
    long r;
    int acc = flags & O_ACCMODE;
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        if (acc == O_RDONLY)
            return -EINVAL;
        r = open_tmpfile(dirfd, path, mode, &n);
    } else if (flags & O_CREAT) {
        r = open_create(dirfd, path, flags, mode, &n);
    } else {
        r = vfs_base(dirfd, path, &base);
        if (r >= 0)
            r = vfs_walk(base, path, !(flags & O_NOFOLLOW), &n);
    }
    if (r < 0)
        return r;
    if (S_ISLNK(n->mode))
        return -ELOOP;
    if ((flags & O_DIRECTORY) && !S_ISDIR(n->mode))
        return -ENOTDIR;
    if (S_ISDIR(n->mode) && !(flags & O_PATH) && (acc != O_RDONLY || (flags & (O_TRUNC | O_CREAT))))
        return -EISDIR;
    if ((flags & O_TRUNC) && S_ISREG(n->mode) && acc != O_RDONLY && !(flags & O_PATH)) {
        r = vnode_truncate(n, 0);
        if (r < 0)
            return r;
    }
    struct file *f;
    r = vfs_open_node(n, flags, &f);
    if (r < 0)
        return r;
    return fd_install(f, !!(flags & O_CLOEXEC));
}

long sys_open(const char *path, int flags, mode_t mode)
{
    return sys_openat(AT_FDCWD, path, flags, mode);
}

long sys_creat(const char *path, mode_t mode)
{
    return sys_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

long vfs_lookup_at(int dirfd, const char *path, int flags, struct vnode **out, struct file **fout)
{
    *fout = NULL;
    if (path && !*path && (flags & AT_EMPTY_PATH)) {
        if (dirfd == AT_FDCWD) {
            *out = cwd;
            return 0;
        }
        struct file *f = fd_get(dirfd);
        if (!f)
            return -EBADF;
        *out = f->node;
        *fout = f;
        return 0;
    }
    struct vnode *base;
    long r = vfs_base(dirfd, path, &base);
    return r < 0 ? r : vfs_walk(base, path, !(flags & AT_SYMLINK_NOFOLLOW), out);
}

long sys_newfstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    struct vnode *n;
    struct file *f;
    long r = vfs_lookup_at(dirfd, path, flags, &n, &f);
    if (r < 0)
        return r;
    if (f)
        return sys_fstat(dirfd, st);
    vnode_stat(n, st);
    return 0;
}

long sys_stat(const char *path, struct stat *st)
{
    return sys_newfstatat(AT_FDCWD, path, st, 0);
}

long sys_lstat(const char *path, struct stat *st)
{
    return sys_newfstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

long sys_faccessat(int dirfd, const char *path, int mode, int flags)
{
    struct vnode *n;
    struct file *f;
    long r = vfs_lookup_at(dirfd, path, flags & ~AT_EACCESS, &n, &f);
    if (r < 0)
        return r;
    if ((mode & X_OK) && n && !S_ISDIR(n->mode) && !(n->mode & 0111))
        return -EACCES; /* even root needs an x bit to execute */
    return 0;
}

long sys_access(const char *path, int mode)
{
    return sys_faccessat(AT_FDCWD, path, mode, 0);
}

long sys_readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
    struct vnode *base, *n;
    long r = vfs_base(dirfd, path, &base);
    if (r >= 0)
        r = vfs_walk(base, path, 0, &n);
    if (r < 0)
        return r;
    if (!S_ISLNK(n->mode) || !n->link)
        return -EINVAL;
    size_t len = strlen(n->link);
    if (len > size)
        len = size;
    memcpy(buf, n->link, len);
    return (long)len;
}

long sys_chdir(const char *path)
{
    struct vnode *n;
    long r = vfs_walk(cwd, path, 1, &n);
    if (r < 0)
        return r;
    if (!S_ISDIR(n->mode))
        return -ENOTDIR;
    vnode_open(n);
    vnode_close(cwd);
    cwd = n;
    return 0;
}

long sys_fchdir(int fd)
{
    struct file *f = fd_get(fd);
    if (!f)
        return -EBADF;
    if (!f->node || !S_ISDIR(f->node->mode))
        return -ENOTDIR;
    vnode_open(f->node);
    vnode_close(cwd);
    cwd = f->node;
    return 0;
}

long sys_getcwd(char *buf, size_t size)
{
    char tmp[PATH_MAX_LEN];
    size_t pos = sizeof tmp - 1;
    tmp[pos] = 0;
    if (cwd->detached)
        return -ENOENT;
    for (struct vnode *n = cwd; n != vnode_root(); n = n->parent) {
        size_t l = strlen(n->name);
        if (l + 1 > pos)
            return -ENAMETOOLONG;
        pos -= l;
        memcpy(tmp + pos, n->name, l);
        tmp[--pos] = '/';
    }
    if (pos == sizeof tmp - 1)
        tmp[--pos] = '/';
    size_t len = sizeof tmp - pos;
    if (len > size)
        return -ERANGE;
    memcpy(buf, tmp + pos, len);
    return (long)len;
}

long sys_umask(mode_t mask)
{
    mode_t old = umask_bits;
    umask_bits = mask & 0777;
    return old;
}
