/* mem.c: the memory system calls: brk, mmap, munmap, mremap, mprotect, madvise, msync, mincore. */
#include "svcos.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static uintptr_t brk_start, brk_cur;

extern char _end[]; /* end of the image's bss, from the linker */

static void brk_init(void)
{
    brk_start = brk_cur = PAGE_UP(_end);
}

long sys_brk(uintptr_t want)
{
    if (!brk_start)
        brk_init();
    if (want < brk_start)
        return (long)brk_cur;
    uintptr_t have = PAGE_UP(brk_cur), need = PAGE_UP(want);
    if (need > have) {
        if (pages_claim(have, (need - have) / PAGE_SIZE) < 0)
            return (long)brk_cur;
    } else if (need < have) {
        pages_free((void *)need, (have - need) / PAGE_SIZE);
    }
    brk_cur = want;
    return (long)brk_cur;
}

long sys_mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, off_t off)
{
    (void)prot;
    if (len == 0 || len > (1ull << 40) || (off & (PAGE_SIZE - 1)))
        return -EINVAL;
    size_t n = PAGE_UP(len) / PAGE_SIZE;
    void *p;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr % PAGE_SIZE)
            return -EINVAL;
        int r = (flags & MAP_FIXED_NOREPLACE) ? pages_claim(addr, n) : pages_replace(addr, n);
        if (r < 0)
            return (flags & MAP_FIXED_NOREPLACE) && r == -ENOMEM ? -EEXIST : -ENOMEM;
        p = (void *)addr;
    } else {
        p = NULL;
        if (addr && addr % PAGE_SIZE == 0 && pages_claim(addr, n) == 0)
            p = (void *)addr; /* the hint was free: honour it */
        if (!p)
            p = pages_alloc(n);
        if (!p)
            return -ENOMEM;
    }
    if (!(flags & MAP_ANONYMOUS)) {
        /* A file mapping is a private copy of the file's bytes. */
        struct file *f = fd_get(fd);
        long r = f && f->ops->pread ? f->ops->pread(f, p, len, off) : -EBADF;
        if (f && !f->ops->pread)
            r = -ENODEV;
        if (r < 0) {
            pages_free(p, n);
            return r;
        }
    }
    return (long)(uintptr_t)p;
}

long sys_munmap(uintptr_t addr, size_t len)
{
    if (addr % PAGE_SIZE || len == 0)
        return -EINVAL;
    len = PAGE_UP(len);
    if (!mem_range_ok(addr, len))
        return 0; /* Linux allows unmapping what is not mapped */
    pages_free((void *)addr, len / PAGE_SIZE);
    return 0;
}

long sys_mremap(uintptr_t old, size_t oldlen, size_t newlen, int flags, uintptr_t new_addr)
{
    (void)new_addr;
    if (old % PAGE_SIZE || newlen == 0 || (flags & ~MREMAP_MAYMOVE))
        return -EINVAL;
    size_t on = PAGE_UP(oldlen) / PAGE_SIZE, nn = PAGE_UP(newlen) / PAGE_SIZE;
    if (!mem_range_ok(old, on * PAGE_SIZE))
        return -EFAULT;
    if (nn <= on) {
        pages_free((void *)(old + nn * PAGE_SIZE), on - nn);
        return (long)old;
    }
    if (pages_claim(old + on * PAGE_SIZE, nn - on) == 0)
        return (long)old;
    if (!(flags & MREMAP_MAYMOVE))
        return -ENOMEM;
    void *p = pages_alloc(nn);
    if (!p)
        return -ENOMEM;
    memcpy(p, (void *)old, on * PAGE_SIZE);
    pages_free((void *)old, on);
    return (long)(uintptr_t)p;
}

/* Protections cannot be enforced (all RAM is one identity mapping): accept them. */
long sys_mprotect(uintptr_t addr, size_t len, int prot)
{
    (void)len, (void)prot;
    return addr % PAGE_SIZE ? -EINVAL : 0;
}

long sys_madvise(uintptr_t addr, size_t len, int advice)
{
    if (addr % PAGE_SIZE)
        return -EINVAL;
    len = PAGE_UP(len);
    /* Private anonymous memory reads back as zero after MADV_DONTNEED. */
    if ((advice == MADV_DONTNEED || advice == MADV_REMOVE) && mem_range_ok(addr, len))
        memset((void *)addr, 0, len);
    return 0;
}

long sys_msync(uintptr_t addr, size_t len, int flags)
{
    (void)len, (void)flags;
    return addr % PAGE_SIZE ? -EINVAL : 0;
}

long sys_mincore(uintptr_t addr, size_t len, unsigned char *vec)
{
    if (addr % PAGE_SIZE)
        return -EINVAL;
    memset(vec, 1, PAGE_UP(len) / PAGE_SIZE);
    return 0;
}
