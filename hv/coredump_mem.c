/* coredump_mem: copy one guest RAM range into the core, skipping all-zero pages as file holes. */
#include "coredump_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* mincore() is asked about this many pages at a time: a 16 KiB vector covers 64 MiB. */
#define SCAN_PAGES 4096u
/* A run of non-zero pages is written once it reaches this size, so writeback can start early. */
#define RUN_MAX (16u << 20)
/* Start writeback every this many bytes, overlapping the disk with the rest of the scan. */
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
            coredump_seterr(err, errlen, "coredump: write of %zu bytes at offset %llu: %s", len,
                            (unsigned long long)off, strerror(errno));
            return -1;
        }
        if (n == 0) {
            coredump_seterr(err, errlen, "coredump: write at offset %llu made no progress",
                            (unsigned long long)off);
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int flush_run(struct core_mem_writer *w, const uint8_t *buf, size_t len, uint64_t off)
{
    if (len == 0)
        return 0;
    if (coredump_pwrite_all(w->fd, buf, len, off, w->err, w->errlen) < 0)
        return -1;
    w->st->data_bytes += len;
    w->unkicked += len;
    if (w->unkicked >= KICK_BYTES) {
        uint64_t end = off + len;

        /*
         * Only starts writeback, it does not make anything durable: the caller's fsync does.
         * A failure here is not fatal, since that fsync reports any I/O error again.
         */
        (void)sync_file_range(w->fd, (off_t)w->kicked, (off_t)(end - w->kicked),
                              SYNC_FILE_RANGE_WRITE);
        w->kicked = end;
        w->unkicked = 0;
    }
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
            coredump_seterr(w->err, w->errlen, "coredump: mincore on range at gpa 0x%llx: %s",
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
