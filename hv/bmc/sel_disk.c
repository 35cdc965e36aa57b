/* SEL ring file: a write-once header and fixed 512-byte records, each CRC32'd and self-placed. */
#include "bmc/sel_disk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/*
 * Records are 512 bytes and 512-aligned, so a record never shares a disk sector (or straddles
 * a page) with another one: a torn write can damage only the record being written, and the
 * CRC catches that.  The header is written once, when the file is created under a temporary
 * name, and never rewritten in place, so it cannot be torn by a crash.
 */
static const char hdr_magic[8] = {'V', 'I', 'G', 'I', 'L', 'S', 'E', 'L'};
#define SEL_VERSION   1u
#define SEL_REC_MAGIC 0x52534c56u /* "VLSR" */

/* Offsets inside a record; bytes 352..511 are reserved and zero. */
enum {
    R_MAGIC = 0,
    R_CRC = 4,
    R_ID = 8,
    R_TIME = 16,
    R_SEV = 24,
    R_TYPE = 25,
    R_VM = 32,
    R_MSG = R_VM + SEL_VM_MAX,
};
_Static_assert(R_MSG + SEL_MSG_MAX <= SEL_REC_SIZE, "record layout overflows");

/* Offsets inside the header; the CRC covers bytes 0..507. */
enum { H_VERSION = 8, H_HDRSIZE = 12, H_RECSIZE = 16, H_CAP = 20, H_CREATED = 24, H_CRC = 508 };

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t sel_crc32(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t c = 0xffffffffu;

    pthread_once(&crc_once, crc_init);
    while (len--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

static int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n, len -= (size_t)n, off += n;
    }
    return 0;
}

/* Returns bytes read (short only at end of file) or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static void encode(uint8_t *r, const struct sel_entry *e)
{
    memset(r, 0, SEL_REC_SIZE);
    put32(r + R_MAGIC, SEL_REC_MAGIC);
    put64(r + R_ID, e->id);
    put64(r + R_TIME, (uint64_t)e->time_ns);
    r[R_SEV] = (uint8_t)e->severity;
    r[R_TYPE] = (uint8_t)e->type;
    memcpy(r + R_VM, e->vm, strnlen(e->vm, SEL_VM_MAX - 1));
    memcpy(r + R_MSG, e->message, strnlen(e->message, SEL_MSG_MAX - 1));
    put32(r + R_CRC, sel_crc32(r + 8, SEL_REC_SIZE - 8));
}

static bool decode(const uint8_t *r, struct sel_entry *e)
{
    if (get32(r + R_MAGIC) != SEL_REC_MAGIC ||
        get32(r + R_CRC) != sel_crc32(r + 8, SEL_REC_SIZE - 8))
        return false;
    memset(e, 0, sizeof(*e));
    e->id = get64(r + R_ID);
    e->time_ns = (int64_t)get64(r + R_TIME);
    e->severity = (enum sel_severity)r[R_SEV];
    e->type = (enum sel_type)r[R_TYPE];
    memcpy(e->vm, r + R_VM, SEL_VM_MAX - 1);
    memcpy(e->message, r + R_MSG, SEL_MSG_MAX - 1);
    return e->id != 0 && e->severity <= SEL_CRITICAL;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

int sel_disk_write(int fd, uint32_t capacity, const struct sel_entry *e)
{
    uint8_t r[SEL_REC_SIZE];
    encode(r, e);
    return pwrite_full(fd, r, sizeof(r), SEL_HDR_SIZE + (off_t)(e->id % capacity) * SEL_REC_SIZE);
}

static int fsync_parent(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    int dfd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int rc = fsync(dfd) ? -errno : 0;
    close(dfd);
    return rc;
}

int sel_disk_create(const char *path, uint32_t capacity, const struct sel_entry *e, size_t n,
                    int *fd_out, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    uint8_t hdr[SEL_HDR_SIZE] = {0};
    struct timespec ts;
    int rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return snprintf(err, errlen, "SEL path too long"), -ENAMETOOLONG;
    unlink(tmp); /* left over by a crash during an earlier rewrite */
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return rc = -errno, snprintf(err, errlen, "%s: %s", tmp, strerror(-rc)), rc;
    flock(fd, LOCK_EX | LOCK_NB);

    /* Allocating up front keeps appends from growing the file, so fdatasync has no size
       metadata to commit and ENOSPC shows up now rather than mid-run. */
    off_t size = SEL_HDR_SIZE + (off_t)capacity * SEL_REC_SIZE;
    rc = posix_fallocate(fd, 0, size);
    if (rc == EOPNOTSUPP || rc == EINVAL)
        rc = ftruncate(fd, size) ? errno : 0;
    if (rc) {
        rc = -rc;
        goto fail;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    memcpy(hdr, hdr_magic, sizeof(hdr_magic));
    put32(hdr + H_VERSION, SEL_VERSION);
    put32(hdr + H_HDRSIZE, SEL_HDR_SIZE);
    put32(hdr + H_RECSIZE, SEL_REC_SIZE);
    put32(hdr + H_CAP, capacity);
    put64(hdr + H_CREATED, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    put32(hdr + H_CRC, sel_crc32(hdr, H_CRC));
    if ((rc = pwrite_full(fd, hdr, sizeof(hdr), 0)))
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = sel_disk_write(fd, capacity, &e[i])))
            goto fail;
    if (fsync(fd) || rename(tmp, path)) {
        rc = -errno;
        goto fail;
    }
    fsync_parent(path); /* best effort: without it the rename may not survive power loss */
    *fd_out = fd;
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
    close(fd);
    unlink(tmp);
    return rc;
}

static int load_header(int fd, uint32_t *cap, char *err, size_t errlen)
{
    uint8_t hdr[SEL_HDR_SIZE];
    ssize_t n = pread_full(fd, hdr, sizeof(hdr), 0);
    if (n < 0)
        return snprintf(err, errlen, "read header: %s", strerror((int)-n)), (int)n;
    if (n < SEL_HDR_SIZE || memcmp(hdr, hdr_magic, sizeof(hdr_magic)) ||
        get32(hdr + H_CRC) != sel_crc32(hdr, H_CRC))
        return snprintf(err, errlen, "not a SEL file or header damaged"), -EBADMSG;
    *cap = get32(hdr + H_CAP);
    if (get32(hdr + H_VERSION) != SEL_VERSION || get32(hdr + H_HDRSIZE) != SEL_HDR_SIZE ||
        get32(hdr + H_RECSIZE) != SEL_REC_SIZE || *cap == 0 || *cap > SEL_MAX_CAP)
        return snprintf(err, errlen, "unsupported SEL version or geometry"), -EBADMSG;
    return 0;
}

int sel_disk_load(int fd, struct sel_ring *ring, char *err, size_t errlen)
{
    enum { CHUNK = 128 };
    uint32_t cap = 0;
    int rc;

    memset(ring, 0, sizeof(*ring));
    if ((rc = load_header(fd, &cap, err, errlen)))
        return rc;
    ring->capacity = cap;
    ring->slots = calloc(cap, sizeof(*ring->slots));
    uint8_t *buf = malloc(CHUNK * SEL_REC_SIZE);
    if (!ring->slots || !buf) {
        free(ring->slots);
        ring->slots = NULL;
        free(buf);
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    }

    for (uint32_t base = 0; base < cap; base += CHUNK) {
        uint32_t want = cap - base < CHUNK ? cap - base : CHUNK;
        ssize_t n = pread_full(fd, buf, (size_t)want * SEL_REC_SIZE,
                               SEL_HDR_SIZE + (off_t)base * SEL_REC_SIZE);
        if (n < 0) {
            free(ring->slots);
            ring->slots = NULL;
            free(buf);
            return snprintf(err, errlen, "read records: %s", strerror((int)-n)), (int)n;
        }
        size_t whole = (size_t)n / SEL_REC_SIZE, tail = (size_t)n % SEL_REC_SIZE;
        if (tail && !all_zero(buf + whole * SEL_REC_SIZE, tail))
            ring->discarded++; /* a record cut short by truncation */
        for (size_t i = 0; i < whole; i++) {
            const uint8_t *r = buf + i * SEL_REC_SIZE;
            struct sel_entry e;
            if (all_zero(r, SEL_REC_SIZE))
                continue;
            if (!decode(r, &e) || e.id % cap != base + i) {
                ring->discarded++;
                continue;
            }
            ring->slots[base + i] = e;
            if (e.id > ring->last_id)
                ring->last_id = e.id;
        }
        if ((size_t)n < (size_t)want * SEL_REC_SIZE)
            break;
    }
    free(buf);
    /* A slot whose newest write was torn still holds a record from an earlier lap. */
    for (uint32_t i = 0; i < cap; i++) {
        uint64_t id = ring->slots[i].id;
        if (id && id + cap <= ring->last_id)
            ring->slots[i].id = 0;
        else if (id)
            ring->count++;
    }
    return 0;
}
