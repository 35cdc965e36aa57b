/* ramfs.c: the in-memory file tree: directories, regular files (image-backed until written),
 * devices, symlinks. */
#include "svcos.h"
#include <errno.h>
#include <string.h>

static struct vnode root;
static ino_t next_ino = 2;

static void now_ts(struct timespec *ts)
{
    uint64_t ns = time_wall_ns();
    ts->tv_sec = (time_t)(ns / NS_PER_S);
    ts->tv_nsec = (long)(ns % NS_PER_S);
}

struct vnode *vnode_root(void)
{
    if (!root.mode) {
        root.mode = S_IFDIR | 0755;
        root.ino = 1;
        root.nlink = 2;
        root.parent = &root;
        root.opens = 1; /* never freed */
        now_ts(&root.mtime);
        root.atime = root.ctime = root.mtime;
    }
    return &root;
}

struct vnode *vnode_lookup(struct vnode *dir, const char *name, size_t len)
{
    for (struct vnode *c = dir->children; c; c = c->next)
        if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

void vnode_attach(struct vnode *dir, struct vnode *n, const char *name, size_t len)
{
    char *nm = kstrndup(name, len);
    if (!nm)
        kpanic("out of memory naming a file");
    kfree(n->name);
    n->name = nm;
    n->parent = dir;
    n->next = dir->children;
    dir->children = n;
    n->detached = 0;
    if (S_ISDIR(n->mode))
        dir->nlink++;
    vnode_touch(dir);
}

struct vnode *vnode_create(struct vnode *dir, const char *name, size_t len, mode_t mode)
{
    struct vnode *n = kzalloc(sizeof *n);
    if (!n)
        return NULL;
    n->mode = mode;
    n->ino = next_ino++;
    n->nlink = S_ISDIR(mode) ? 2 : 1;
    now_ts(&n->mtime);
    n->atime = n->ctime = n->mtime;
    vnode_attach(dir, n, name, len);
    return n;
}

static void vnode_free(struct vnode *n)
{
    kfree(n->data);
    kfree(n->name);
    kfree(n->link);
    kfree(n);
}

void vnode_detach(struct vnode *n)
{
    struct vnode *dir = n->parent, **pp;
    for (pp = &dir->children; *pp && *pp != n; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = n->next;
    if (S_ISDIR(n->mode))
        dir->nlink--;
    vnode_touch(dir);
    n->next = NULL;
    n->detached = 1;
    if (!n->opens)
        vnode_free(n);
}

void vnode_open(struct vnode *n)
{
    n->opens++;
}

void vnode_close(struct vnode *n)
{
    if (--n->opens == 0 && n->detached)
        vnode_free(n);
}

void vnode_touch(struct vnode *n)
{
    now_ts(&n->mtime);
    n->ctime = n->mtime;
}

void vnode_set_rodata(struct vnode *n, const void *data, size_t len)
{
    n->rodata = data;
    n->size = len;
}

void vnode_set_mtime(struct vnode *n, uint64_t sec)
{
    n->mtime.tv_sec = n->ctime.tv_sec = n->atime.tv_sec = (time_t)sec;
    n->mtime.tv_nsec = n->ctime.tv_nsec = n->atime.tv_nsec = 0;
}

static const unsigned char *contents(const struct vnode *n)
{
    return n->rodata ? n->rodata : n->data;
}

long vnode_read(struct vnode *n, void *buf, size_t len, off_t off)
{
    if (S_ISDIR(n->mode))
        return -EISDIR;
    if ((uint64_t)off >= n->size)
        return 0;
    size_t avail = n->size - (size_t)off;
    if (len > avail)
        len = avail;
    memcpy(buf, contents(n) + off, len);
    return (long)len;
}

/* Makes the contents writable and at least `need` bytes of capacity. */
static int reserve(struct vnode *n, size_t need)
{
    if (!n->rodata && need <= n->cap)
        return 0;
    size_t cap = n->cap ? n->cap : 256;
    while (cap < need)
        cap = cap < (1u << 20) ? cap * 2 : cap + (cap >> 1);
    unsigned char *d = kmalloc(cap);
    if (!d)
        return -ENOSPC;
    if (n->size)
        memcpy(d, contents(n), n->size);
    kfree(n->data);
    n->data = d;
    n->rodata = NULL;
    n->cap = cap;
    return 0;
}

long vnode_write(struct vnode *n, const void *buf, size_t len, off_t off)
{
    if (off < 0 || (uint64_t)off + len > (1ull << 40))
        return -EFBIG;
    size_t end = (size_t)off + len;
    if (reserve(n, end > n->size ? end : n->size) < 0)
        return -ENOSPC;
    if ((size_t)off > n->size)
        memset(n->data + n->size, 0, (size_t)off - n->size);
    memcpy(n->data + off, buf, len);
    if (end > n->size)
        n->size = end;
    vnode_touch(n);
    return (long)len;
}

long vnode_truncate(struct vnode *n, off_t len)
{
    if (S_ISDIR(n->mode))
        return -EISDIR;
    if (!S_ISREG(n->mode))
        return -EINVAL;
    if (len < 0 || (uint64_t)len > (1ull << 40))
        return -EINVAL;
    if ((size_t)len > n->size || n->rodata) {
        if (reserve(n, (size_t)len > n->size ? (size_t)len : n->size) < 0)
            return -ENOSPC;
        if ((size_t)len > n->size)
            memset(n->data + n->size, 0, (size_t)len - n->size);
    }
    n->size = (size_t)len;
    vnode_touch(n);
    return 0;
}

void vnode_stat(const struct vnode *n, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_dev = 1;
    st->st_ino = n->ino;
    st->st_mode = n->mode;
    st->st_nlink = n->nlink;
    st->st_size = S_ISLNK(n->mode) && n->link ? (off_t)strlen(n->link) : (off_t)n->size;
    st->st_blksize = 4096;
    st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
    if (S_ISCHR(n->mode))
        st->st_rdev = (dev_t)n->ino;
    st->st_atim = n->atime;
    st->st_mtim = n->mtime;
    st->st_ctim = n->ctime;
}

struct vnode *vfs_create_path(const char *path, mode_t mode)
{
    struct vnode *cur = vnode_root();
    const char *p = path;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            return cur;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        const char *rest = e;
        while (*rest == '/')
            rest++;
        size_t len = (size_t)(e - p);
        struct vnode *next = vnode_lookup(cur, p, len);
        if (!next)
            next = vnode_create(cur, p, len, *rest ? S_IFDIR | 0755 : mode);
        if (!next || (*rest && !S_ISDIR(next->mode)))
            return NULL;
        if (!*rest)
            return next;
        cur = next;
        p = rest;
    }
}
