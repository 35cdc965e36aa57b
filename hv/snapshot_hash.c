/* snapshot_hash: SHA-256 of a sparse core, hashing holes as zeros without reading them. */
#include "snapshot_store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* 4 MiB reads: few syscalls, and the next chunk's readahead overlaps this chunk's hashing. */
#define HASH_CHUNK (4u << 20)

/* Zeros fed to the digest for holes: SHA-256 cannot skip them, but the disk can. */
static const uint8_t zeros[1u << 16];

static int hash_zeros(EVP_MD_CTX *ctx, uint64_t n)
{
    while (n > 0) {
        size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
        if (EVP_DigestUpdate(ctx, zeros, k) != 1)
            return -EIO;
        n -= k;
    }
    return 0;
}

/* Reads and hashes [off, end); the file must not shrink meanwhile. */
static int hash_data(EVP_MD_CTX *ctx, int fd, uint8_t *buf, uint64_t off, uint64_t end,
                     uint64_t *data_read)
{
    while (off < end) {
        size_t want = end - off < HASH_CHUNK ? (size_t)(end - off) : HASH_CHUNK;
        ssize_t n;

        /* Ask for the next chunk now so the disk works while this one is hashed. */
        if (end - off > want)
            posix_fadvise(fd, (off_t)(off + want), HASH_CHUNK, POSIX_FADV_WILLNEED);
        n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* shorter than fstat said: changed under us */
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            return -EIO;
        /* Read once, hashed, never needed again: keep the page cache for the service VM. */
        posix_fadvise(fd, (off_t)off, n, POSIX_FADV_DONTNEED);
        off += (uint64_t)n;
        *data_read += (uint64_t)n;
    }
    return 0;
}

/* Walks data extents and holes; without SEEK_DATA support the whole file is data. */
static int hash_file(EVP_MD_CTX *ctx, int fd, uint8_t *buf, uint64_t size, uint64_t *data_read)
{
    bool sparse = true;
    uint64_t off = 0;
    int rc;

    while (off < size) {
        off_t data = sparse ? lseek(fd, (off_t)off, SEEK_DATA) : (off_t)off;
        off_t hole;

        if (data < 0 && errno == ENXIO) {
            data = (off_t)size; /* only a hole remains */
        } else if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
            sparse = false;
            data = (off_t)off;
        } else if (data < 0) {
            return -errno;
        }
        if ((uint64_t)data > size)
            data = (off_t)size;
        if ((rc = hash_zeros(ctx, (uint64_t)data - off)) < 0)
            return rc;
        off = (uint64_t)data;
        if (off >= size)
            break;
        hole = sparse ? lseek(fd, data, SEEK_HOLE) : (off_t)size;
        if (hole < 0)
            return -errno;
        if ((uint64_t)hole > size || hole <= data)
            hole = (off_t)size;
        if ((rc = hash_data(ctx, fd, buf, off, (uint64_t)hole, data_read)) < 0)
            return rc;
        off = (uint64_t)hole;
    }
    return 0;
}

int snapshot_sha256_fd(int fd, char hex[SNAPSHOT_SHA256_HEX], uint64_t *data_read)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t dummy = 0;
    struct stat sb;
    EVP_MD_CTX *ctx;
    uint8_t *buf;
    int rc;

    if (data_read == NULL)
        data_read = &dummy;
    *data_read = 0;
    if (fstat(fd, &sb) < 0)
        return -errno;
    ctx = EVP_MD_CTX_new();
    buf = malloc(HASH_CHUNK);
    if (ctx == NULL || buf == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
    if (rc == 0)
        rc = hash_file(ctx, fd, buf, (uint64_t)sb.st_size, data_read);
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32))
        rc = -EIO;
    if (rc == 0) {
        for (unsigned i = 0; i < 32; i++) {
            hex[2 * i] = digits[md[i] >> 4];
            hex[2 * i + 1] = digits[md[i] & 15];
        }
        hex[64] = '\0';
    }
out:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}
