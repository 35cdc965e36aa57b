/* coredump_bench: time a durable coredump_write (COREDUMP_DURABLE) on fake dense and mostly-empty
 * guests. */
#include "evidence/coredump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE  4096u
#define RUNS  3
#define NCASE 6

struct result {
    const char *shape;
    uint64_t guest_bytes;
    uint64_t file_bytes, disk_bytes, data_bytes;
    double write_s, fsync_s, total_s; /* medians over RUNS */
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* A cheap hash picks the 1% of pages a mostly-empty guest has touched, spread over all RAM. */
static int page_touched(uint64_t i, int dense)
{
    uint64_t h = i * 0x9e3779b97f4a7c15ull;

    return dense || (h >> 32) % 100 == 0;
}

static uint8_t *make_guest(uint64_t bytes, int dense)
{
    uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (m == MAP_FAILED)
        return NULL;
    for (uint64_t p = 0; p < bytes / PAGE; p++) {
        if (!page_touched(p, dense))
            continue;
        uint64_t *w = (uint64_t *)(void *)(m + p * PAGE);
        for (unsigned i = 0; i < PAGE / 8; i++)
            w[i] = (p << 12 | i) * 0x100000001b3ull | 1;
    }
    return m;
}

static int run_case(const char *dir, struct result *res)
{
    int dense = strcmp(res->shape, "dense") == 0;
    uint8_t *mem = make_guest(res->guest_bytes, dense);
    double wt[RUNS], ft[RUNS], tt[RUNS];
    char path[4096], err[256];
    struct core_vcpu cpu;

    if (mem == NULL) {
        fprintf(stderr, "mmap %llu bytes: %s\n", (unsigned long long)res->guest_bytes,
                strerror(errno));
        return -1;
    }
    memset(&cpu, 0, sizeof(cpu));
    cpu.regs.rip = 0x100000;
    snprintf(path, sizeof(path), "%s/coredump-bench.%d.core", dir, (int)getpid());
    for (int i = 0; i < RUNS; i++) {
        struct core_mem_range r = {.gpa = 0, .len = res->guest_bytes, .host = mem};
        struct coredump_stats st;
        struct stat sb;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        double t0 = now(), t1, t2;

        /* As the snapshot store writes: flushed behind the writes, fsync'ed at the end. */
        if (fd < 0 || coredump_write_flags(fd, &r, 1, &cpu, 1, NULL, 0, COREDUMP_DURABLE, &st, err,
                                           sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", path, fd < 0 ? strerror(errno) : err);
            return -1;
        }
        t2 = now();
        t1 = t2 - st.fsync_seconds;
        if (fstat(fd, &sb) < 0) {
            fprintf(stderr, "fstat %s: %s\n", path, strerror(errno));
            return -1;
        }
        close(fd);
        unlink(path);
        wt[i] = t1 - t0;
        ft[i] = t2 - t1;
        tt[i] = t2 - t0;
        res->file_bytes = st.file_bytes;
        res->data_bytes = st.data_bytes;
        res->disk_bytes = (uint64_t)sb.st_blocks * 512;
    }
    res->write_s = median(wt, RUNS);
    res->fsync_s = median(ft, RUNS);
    res->total_s = median(tt, RUNS);
    munmap(mem, res->guest_bytes);
    return 0;
}

int main(int argc, char **argv)
{
    struct result res[NCASE];
    const uint64_t sizes[3] = {256ull << 20, 1ull << 30, 4ull << 30};
    int n = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR   (writes and deletes DIR/coredump-bench.PID.core)\n",
                argv[0]);
        return 2;
    }
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 2; d++) {
            res[n] = (struct result){.shape = d ? "sparse1%" : "dense", .guest_bytes = sizes[s]};
            if (run_case(argv[1], &res[n]) < 0)
                return 1;
            n++;
        }

    printf("%-6s %-9s %10s %10s %9s %9s %9s %9s %10s\n", "guest", "shape", "file_MiB", "disk_MiB",
           "write_s", "fsync_s", "total_s", "GiB/s", "(median/3)");
    for (int i = 0; i < n; i++)
        printf("%4lluMi %-9s %10.1f %10.1f %9.3f %9.3f %9.3f %9.2f\n",
               (unsigned long long)(res[i].guest_bytes >> 20), res[i].shape,
               res[i].file_bytes / 1048576.0, res[i].disk_bytes / 1048576.0, res[i].write_s,
               res[i].fsync_s, res[i].total_s, res[i].guest_bytes / 1073741824.0 / res[i].total_s);
    printf("{\"bench\":\"coredump\",\"runs\":%d,\"results\":[", RUNS);
    for (int i = 0; i < n; i++)
        printf("%s{\"guest_bytes\":%llu,\"shape\":\"%s\",\"file_bytes\":%llu,\"disk_bytes\":%llu,"
               "\"data_bytes\":%llu,\"write_s\":%.4f,\"fsync_s\":%.4f,\"total_s\":%.4f}",
               i ? "," : "", (unsigned long long)res[i].guest_bytes, res[i].shape,
               (unsigned long long)res[i].file_bytes, (unsigned long long)res[i].disk_bytes,
               (unsigned long long)res[i].data_bytes, res[i].write_s, res[i].fsync_s,
               res[i].total_s);
    printf("]}\n");
    return 0;
}
