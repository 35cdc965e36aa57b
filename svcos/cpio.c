/* cpio.c: loads the cpio archive (newc format) packed into the image into the file tree, without
 * copying file data. */
#include "svcos.h"
#include <string.h>

#define NEWC_HDR 110

static uint32_t hex8(const char *s, int *ok)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            *ok = 0;
    }
    return v;
}

static size_t pad4(size_t x)
{
    return (x + 3) & ~(size_t)3;
}

void cpio_load(const void *archive, size_t len)
{
    const char *a = archive;
    size_t off = 0, files = 0;
    while (off + NEWC_HDR <= len) {
        const char *h = a + off;
        int ok = memcmp(h, "070701", 6) == 0 || memcmp(h, "070702", 6) == 0;
        uint32_t mode = hex8(h + 14, &ok), mtime = hex8(h + 46, &ok), size = hex8(h + 54, &ok);
        uint32_t namesize = hex8(h + 94, &ok);
        size_t name_off = off + NEWC_HDR, data_off = pad4(name_off + namesize);
        if (!ok || namesize == 0 || data_off > len || size > len - data_off ||
            a[name_off + namesize - 1]) {
            klog("cpio: bad header at offset %zu: archive ignored from there", off);
            break;
        }
        const char *name = a + name_off;
        if (strcmp(name, "TRAILER!!!") == 0)
            break;
        while (name[0] == '.' && name[1] == '/')
            name += 2;
        if (strcmp(name, ".") != 0 && name[0]) {
            struct vnode *n = vfs_create_path(name, (mode_t)mode);
            if (!n || (n->mode & S_IFMT) != (mode & S_IFMT)) {
                klog("cpio: cannot create %s", name);
                n = NULL;
            } else if (S_ISREG(mode)) {
                vnode_set_rodata(n, a + data_off, size);
                files++;
            } else if (S_ISLNK(mode)) {
                n->link = kstrndup(a + data_off, size);
            }
            if (n) {
                n->mode = (mode_t)mode;
                vnode_set_mtime(n, mtime);
            }
        }
        off = pad4(data_off + size);
    }
    (void)files;
}
