/* coredump_mem: copy guest RAM ranges into the core, skipping all-zero pages as file holes. */
#include "evidence/coredump_int.h"

#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

/* mincore() is asked about this many pages at a time: a 16 KiB vector covers 64 MiB. */
#define SCAN_PAGES 4096u
/* Largest single write; big enough that syscall cost vanishes against the disk. */
#define RUN_MAX (64u << 20)
/* Runs at least this long go direct: measured here, 1 MiB direct writes reach disk speed. */
#define DIO_MIN (1u << 20)
/* Start writeback of buffered data every this many bytes, so the caller's fsync has less. */
#define KICK_BYTES (64u << 20)

static bool page_is_zero(const uint8_t *p, size_t n)
{
    size_t i = 0;

    /*
     * Eight words per step with one test: guest data pages usually fail on the first cache
     * line, and zero pages are read at memory bandwidth. memcpy keeps the loads alias-safe.
     */
    for (; i + 64 <= n; i += 64) {
        uint64_t w[8];

        memcpy(w, p + i, sizeof(w));
        if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0)
            return false;
    }
    for (; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

int coredump_pwrite_all(int fd, const void *data, size_t len, uint64_t off, char *err,
                        size_t errlen)
{
    const uint8_t *buf = data;

    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno; /* callers tell EINVAL from real I/O errors */

            hv_seterr(err, errlen, "coredump: write of %zu bytes at offset %llu: %s", len,
                      (unsigned long long)off, strerror(e));
            errno = e;
            return -1;
        }
        if (n == 0) {
            hv_seterr(err, errlen, "coredump: write at offset %llu made no progress",
                      (unsigned long long)off);
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Pages mincore() calls absent are zero only if they cannot be in swap. */
static bool mincore_is_safe(void)
{
    struct sysinfo si;

    return sysinfo(&si) == 0 && si.totalswap == 0;
}

int coredump_mem_begin(struct core_mem_writer *w, int fd, struct coredump_stats *st, char *err,
                       size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->st = st;
    w->err = err;
    w->errlen = errlen;
    w->use_mincore = mincore_is_safe();
    w->fl_orig = fcntl(fd, F_GETFL);
    if (w->fl_orig < 0) {
        hv_seterr(err, errlen, "coredump: F_GETFL on fd %d: %s", fd, strerror(errno));
        return -1;
    }
    w->dio_on = (w->fl_orig & O_DIRECT) != 0;
    w->dio_ok = true;
    return 0;
}

static bool set_direct(struct core_mem_writer *w, bool on)
{
    int fl = on ? (w->fl_orig | O_DIRECT) : (w->fl_orig & ~O_DIRECT);

    if (w->dio_on == on)
        return true;
    if (fcntl(w->fd, F_SETFL, fl) < 0)
        return false;
    w->dio_on = on;
    return true;
}

int coredump_mem_write_head(struct core_mem_writer *w, const void *buf, size_t len)
{
    /* Header and notes are not page-sized, so they must not go direct. */
    if (!set_direct(w, false)) {
        hv_seterr(w->err, w->errlen, "coredump: clearing O_DIRECT: %s", strerror(errno));
        return -1;
    }
    return coredump_pwrite_all(w->fd, buf, len, 0, w->err, w->errlen);
}

int coredump_mem_end(struct core_mem_writer *w)
{
    if (fcntl(w->fd, F_SETFL, w->fl_orig) < 0) {
        hv_seterr(w->err, w->errlen, "coredump: restoring flags of fd %d: %s", w->fd,
                  strerror(errno));
        return -1;
    }
    w->dio_on = (w->fl_orig & O_DIRECT) != 0;
    return 0;
}

/* Page-aligned memory, offset and length: what O_DIRECT needs on any block size up to 4 KiB. */
static int write_direct(struct core_mem_writer *w, const uint8_t *buf, size_t len, uint64_t off)
{
    char scratch[1];

    if (!w->dio_ok || len < DIO_MIN)
        return 1;
    if (!set_direct(w, true)) {
        w->dio_ok = false; /* F_SETFL refused it: this file system has no O_DIRECT */
        return 1;
    }
    if (coredump_pwrite_all(w->fd, buf, len, off, scratch, sizeof(scratch)) == 0)
        return 0;
    /* EINVAL: the file system rejects direct I/O after all; anything else is a real error. */
    if (errno != EINVAL) {
        hv_seterr(w->err, w->errlen, "coredump: direct write of %zu bytes at %llu: %s", len,
                  (unsigned long long)off, strerror(errno));
        return -1;
    }
    w->dio_ok = false;
    return 1;
}

static int write_buffered(struct core_mem_writer *w, const uint8_t *buf, size_t len, uint64_t off)
{
    if (!set_direct(w, false)) {
        hv_seterr(w->err, w->errlen, "coredump: clearing O_DIRECT: %s", strerror(errno));
        return -1;
    }
    if (coredump_pwrite_all(w->fd, buf, len, off, w->err, w->errlen) < 0)
        return -1;
    if (w->unkicked == 0)
        w->kicked = off;
    w->unkicked += len;
    if (w->unkicked >= KICK_BYTES) {
        uint64_t end = off + len;

        /*
         * Only starts writeback, it makes nothing durable: the caller's fsync does that, and
         * reports any I/O error this would have seen, so the result can be ignored.
         */
        (void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(end - w->kicked),
                              SYNC_FILE_RANGE_WRITE);
        w->unkicked = 0;
    }
    return 0;
}

static int flush_run(struct core_mem_writer *w, const uint8_t *buf, size_t len, uint64_t off)
{
    size_t body = len & ~(size_t)(CORE_PAGE - 1); /* a range's partial last page goes buffered */
    int rc;

    if (len == 0)
        return 0;
    rc = write_direct(w, buf, body, off);
    if (rc < 0)
        return -1;
    if (rc > 0)
        body = 0;
    if (len > body && write_buffered(w, buf + body, len - body, off + body) < 0)
        return -1;
    w->st->data_bytes += len;
    return 0;
}

int coredump_mem_write(struct core_mem_writer *w, const struct core_mem_range *r, uint64_t off)
{
    const uint8_t *run = NULL; /* start of the pending run of non-zero pages */
    size_t run_len = 0;
    uint64_t run_off = 0;
    unsigned char vec[SCAN_PAGES];

    for (uint64_t pos = 0; pos < r->len;) {
        uint64_t chunk = r->len - pos;

        if (chunk > (uint64_t)SCAN_PAGES * CORE_PAGE)
            chunk = (uint64_t)SCAN_PAGES * CORE_PAGE;
        /* mincore() wants a non-const pointer but only reads page tables, never the memory. */
        if (w->use_mincore && mincore((void *)(uintptr_t)(r->host + pos), chunk, vec) < 0) {
            hv_seterr(w->err, w->errlen, "coredump: mincore on range at gpa 0x%llx: %s",
                      (unsigned long long)r->gpa, strerror(errno));
            return -1;
        }
        for (uint64_t i = 0; i * CORE_PAGE < chunk; i++) {
            const uint8_t *page = r->host + pos + i * CORE_PAGE;
            size_t n = chunk - i * CORE_PAGE < CORE_PAGE ? chunk - i * CORE_PAGE : CORE_PAGE;
            /* A non-resident page of anonymous memory was never written: it reads as zero. */
            bool data = (!w->use_mincore || (vec[i] & 1)) && !page_is_zero(page, n);

            w->st->pages_total++;
            if (!data) {
                w->st->zero_pages_skipped++;
                if (flush_run(w, run, run_len, run_off) < 0)
                    return -1;
                run_len = 0;
                continue;
            }
            if (run_len == 0) {
                run = page;
                run_off = off + pos + i * CORE_PAGE;
            }
            run_len += n;
            if (run_len >= RUN_MAX) {
                if (flush_run(w, run, run_len, run_off) < 0)
                    return -1;
                run_len = 0;
            }
        }
        pos += chunk;
    }
    return flush_run(w, run, run_len, run_off);
}
