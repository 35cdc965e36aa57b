/* st_files.c: self-test checks for memory and files: malloc stress, a cpio file against its
 * build-time SHA-256, the RAM file system. */
#define _GNU_SOURCE
#include "selftest.h"
#include "selftest_expect.h" /* generated: SELFTEST_BLOB_PATH, SELFTEST_BLOB_SIZE, SELFTEST_BLOB_SHA256 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t rng = 2463534242u;
static uint32_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static size_t pick_size(void)
{
    uint32_t r = xorshift() % 1000;
    if (r < 700)
        return 1 + xorshift() % 512;
    if (r < 990)
        return 512 + xorshift() % 16384;
    return 65536 + xorshift() % (1u << 20);
}

int check_malloc(struct st_ctx *c, char *why)
{
    (void)c;
    enum { SLOTS = 2048, ROUNDS = 200000 };
    static unsigned char *p[SLOTS];
    static size_t sz[SLOTS];
    for (int i = 0; i < ROUNDS; i++) {
        int k = (int)(xorshift() % SLOTS);
        if (p[k]) {
            unsigned char tag = (unsigned char)k;
            if (p[k][0] != tag || p[k][sz[k] - 1] != tag || p[k][sz[k] / 2] != tag)
                return fail(why, "block %d (%zu bytes) corrupted", k, sz[k]);
            if (xorshift() % 4 == 0) { /* grow or shrink in place of a free */
                size_t n = pick_size();
                unsigned char *q = realloc(p[k], n);
                if (!q)
                    return fail(why, "realloc(%zu) failed", n);
                size_t keep = n < sz[k] ? n : sz[k];
                if (q[0] != tag || q[keep - 1] != tag)
                    return fail(why, "realloc lost contents");
                memset(q, tag, n);
                p[k] = q, sz[k] = n;
                continue;
            }
            free(p[k]);
            p[k] = NULL;
        } else {
            sz[k] = pick_size();
            p[k] = malloc(sz[k]);
            if (!p[k])
                return fail(why, "malloc(%zu) failed at round %d", sz[k], i);
            memset(p[k], (unsigned char)k, sz[k]);
        }
    }
    for (int k = 0; k < SLOTS; k++) {
        free(p[k]);
        p[k] = NULL;
    }
    unsigned char *z = calloc(1, 3 << 20);
    for (size_t i = 0; z && i < (3u << 20); i += 4093)
        if (z[i])
            return fail(why, "calloc memory not zero at %zu", i);
    free(z);
    /* A big block through mmap, grown through mremap. */
    unsigned char *big = malloc(16 << 20);
    if (!big)
        return fail(why, "malloc(16 MiB) failed");
    memset(big, 0x5a, 16 << 20);
    big = realloc(big, 24 << 20);
    if (!big || big[(16 << 20) - 1] != 0x5a)
        return fail(why, "realloc(24 MiB) failed or lost contents");
    free(big);
    return 0;
}

int check_cpio(struct st_ctx *c, char *why)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", c->root, SELFTEST_BLOB_PATH);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(why, "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != SELFTEST_BLOB_SIZE) {
        close(fd);
        return fail(why, "%s: size %lld, expected %d", path, (long long)st.st_size,
                    SELFTEST_BLOB_SIZE);
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static unsigned char buf[65536 + 17];
    ssize_t n;
    long total = 0;
    /* odd-sized reads, to cross the archive's internal alignment */
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        total += n;
    }
    close(fd);
    unsigned char dig[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, dig, &dl);
    EVP_MD_CTX_free(md);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    if (n < 0 || total != SELFTEST_BLOB_SIZE || strcmp(hex, SELFTEST_BLOB_SHA256) != 0)
        return fail(why, "%s: sha256 %s (%ld bytes), expected %s", path, hex, total,
                    SELFTEST_BLOB_SHA256);
    return 0;
}

static int dir_has(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strcmp(e->d_name, name) == 0;
    if (d)
        closedir(d);
    return found;
}

int check_ramfs(struct st_ctx *c, char *why)
{
    char dir[256], a[300], b[300];
    snprintf(dir, sizeof dir, "%s/tmp/selftest-%d", strcmp(c->root, "/") ? c->root : "", getpid());
    snprintf(a, sizeof a, "%s/a.txt", dir);
    snprintf(b, sizeof b, "%s/b.txt", dir);
    if (mkdir(dir, 0755) < 0)
        return fail(why, "mkdir %s: %s", dir, strerror(errno));
    FILE *f = fopen(a, "w+");
    if (!f)
        return fail(why, "fopen %s: %s", a, strerror(errno));
    for (int i = 0; i < 20000; i++)
        fprintf(f, "line %05d\n", i);
    if (fflush(f) || ftell(f) != 20000 * 11)
        return fail(why, "write/ftell: %ld", ftell(f));
    char line[32];
    if (fseek(f, 11 * 12345, SEEK_SET) || !fgets(line, sizeof line, f) ||
        strcmp(line, "line 12345\n"))
        return fail(why, "seek+read back");
    fclose(f);
    int fd = open(a, O_WRONLY | O_APPEND);
    if (fd < 0 || write(fd, "tail\n", 5) != 5 || ftruncate(fd, 11 * 10) < 0)
        return fail(why, "append/ftruncate: %s", strerror(errno));
    close(fd);
    struct stat st;
    if (stat(a, &st) < 0 || st.st_size != 110)
        return fail(why, "size after truncate: %lld", (long long)st.st_size);
    if (rename(a, b) < 0 || access(a, F_OK) == 0 || !dir_has(dir, "b.txt") || dir_has(dir, "a.txt"))
        return fail(why, "rename: %s", strerror(errno));
    if (rmdir(dir) == 0 || errno != ENOTEMPTY)
        return fail(why, "rmdir of a non-empty directory succeeded");
    fd = open(b, O_RDONLY);
    if (unlink(b) < 0 || fd < 0)
        return fail(why, "unlink: %s", strerror(errno));
    char buf[16] = "";
    if (pread(fd, buf, 10, 11 * 9) != 10 ||
        memcmp(buf, "line 00009", 10)) /* still readable once unlinked */
        return fail(why, "read after unlink");
    close(fd);
    if (rmdir(dir) < 0 || stat(dir, &st) == 0)
        return fail(why, "rmdir: %s", strerror(errno));
    char cwd[256];
    if (chdir(c->root) < 0 || !getcwd(cwd, sizeof cwd))
        return fail(why, "chdir/getcwd: %s", strerror(errno));
    return 0;
}
