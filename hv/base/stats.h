/* stats.h: latency samples kept in a bounded ring, with percentiles for status and benchmarks. */
#ifndef HV_STATS_H
#define HV_STATS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAX_SAMPLES 8192

struct latency_stats {
    pthread_mutex_t lock;
    uint64_t samples[STATS_MAX_SAMPLES]; /* nanoseconds */
    uint64_t count; /* ever recorded; the ring keeps the last STATS_MAX_SAMPLES */
};

void stats_init(struct latency_stats *s);
void stats_add(struct latency_stats *s, uint64_t ns);
void stats_reset(struct latency_stats *s);
/* Samples ever recorded (since the last reset). */
uint64_t stats_count(struct latency_stats *s);

struct latency_summary {
    uint64_t count, min, p50, p90, p99, max;
    double mean;
};
/* Summarizes the samples still held. */
struct latency_summary stats_summary(struct latency_stats *s);
/* Percentile p (0..100) of n sorted values, nearest-rank. */
uint64_t stats_percentile(const uint64_t *sorted, size_t n, double p);

#endif
