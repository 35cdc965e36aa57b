/* stats.c: latency sample ring and nearest-rank percentiles. */
#include "base/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void stats_init(struct latency_stats *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
}

void stats_add(struct latency_stats *s, uint64_t ns)
{
    pthread_mutex_lock(&s->lock);
    s->samples[s->count % STATS_MAX_SAMPLES] = ns;
    s->count++;
    pthread_mutex_unlock(&s->lock);
}

void stats_reset(struct latency_stats *s)
{
    pthread_mutex_lock(&s->lock);
    s->count = 0;
    pthread_mutex_unlock(&s->lock);
}

uint64_t stats_count(struct latency_stats *s)
{
    pthread_mutex_lock(&s->lock);
    uint64_t n = s->count;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t stats_percentile(const uint64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    if (p > 100)
        p = 100;
    /* The epsilon keeps p * n / 100 that should be whole from rounding up a rank. */
    size_t rank = (size_t)ceil(p * (double)n / 100.0 - 1e-9);
    return sorted[rank ? rank - 1 : 0];
}

struct latency_summary stats_summary(struct latency_stats *s)
{
    struct latency_summary r = {0};
    static uint64_t sorted[STATS_MAX_SAMPLES];
    static pthread_mutex_t sorted_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sorted_lock);
    pthread_mutex_lock(&s->lock);
    size_t n = s->count < STATS_MAX_SAMPLES ? (size_t)s->count : STATS_MAX_SAMPLES;
    memcpy(sorted, s->samples, n * sizeof sorted[0]);
    pthread_mutex_unlock(&s->lock);
    qsort(sorted, n, sizeof sorted[0], cmp_u64);
    r.count = n;
    if (n) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += (double)sorted[i];
        r.mean = sum / (double)n;
        r.min = sorted[0];
        r.max = sorted[n - 1];
        r.p50 = stats_percentile(sorted, n, 50);
        r.p90 = stats_percentile(sorted, n, 90);
        r.p99 = stats_percentile(sorted, n, 99);
    }
    pthread_mutex_unlock(&sorted_lock);
    return r;
}
