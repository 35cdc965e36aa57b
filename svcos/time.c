/* time.c: clocks from the TSC, anchored to hv's TIME hypercall; clock_gettime, gettimeofday, time,
 * nanosleep. */
#include "svcos.h"
#include <errno.h>
#include <sys/time.h>
#include <time.h>

/* Monotonic time is the host's CLOCK_MONOTONIC (the clock WAIT deadlines use),
 * extrapolated with the TSC from an anchor that is refreshed once a second;
 * it never goes backwards.  Wall time keeps the host's REALTIME - MONOTONIC
 * offset from the latest anchor.  When hv does not give the TSC frequency,
 * a short measurement at boot starts the clock, and every re-anchor refines
 * the frequency over the whole time since boot (its error shrinks as 1/t). */
#define REANCHOR_NS  NS_PER_S
#define CALIBRATE_NS 4000000ull

static uint64_t tsc_hz, anchor_tsc, anchor_mono, reanchor_tsc, last_mono, boot_mono;
static uint64_t base_tsc, base_mono; /* first sample, for refining tsc_hz */
static int hz_measured;
static int64_t wall_offset;

/* Reads hv's clocks bracketed by the TSC: the best of two by bracket width. */
static void sample(uint64_t *tsc, uint64_t *mono, uint64_t *wall)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 2; i++) {
        uint64_t w, m, t0 = rdtsc();
        hv_time(&w, &m);
        uint64_t t1 = rdtsc();
        if (t1 - t0 < best) {
            best = t1 - t0;
            *tsc = t0 + (t1 - t0) / 2;
            *mono = m;
            *wall = w;
        }
    }
}

static void anchor(void)
{
    uint64_t w, m, t;
    sample(&t, &m, &w);
    if (hz_measured && m > base_mono + REANCHOR_NS / 2 && t > base_tsc)
        tsc_hz = (uint64_t)((unsigned __int128)(t - base_tsc) * NS_PER_S / (m - base_mono));
    anchor_tsc = t;
    anchor_mono = m;
    wall_offset = (int64_t)(w - m);
    reanchor_tsc = anchor_tsc + (uint64_t)((unsigned __int128)tsc_hz * REANCHOR_NS / NS_PER_S);
}

void time_init(const struct vigil_boot_info *bi)
{
    uint64_t w, m, t;
    sample(&base_tsc, &base_mono, &w);
    tsc_hz = bi->tsc_hz;
    if (tsc_hz < 1000000) { /* hv could not tell: measure it against hv's clock */
        hz_measured = 1;
        do
            hv_wait(base_mono + CALIBRATE_NS, 0);
        while (sample(&t, &m, &w), m < base_mono + CALIBRATE_NS);
        tsc_hz = (uint64_t)((unsigned __int128)(t - base_tsc) * NS_PER_S / (m - base_mono));
    }
    anchor();
    boot_mono = last_mono = anchor_mono;
}

uint64_t time_tsc_hz(void)
{
    return tsc_hz;
}

uint64_t time_mono_ns(void)
{
    uint64_t t = rdtsc();
    if (t >= reanchor_tsc || t < anchor_tsc) {
        anchor();
        t = rdtsc();
    }
    uint64_t ns = anchor_mono + (uint64_t)((unsigned __int128)(t - anchor_tsc) * NS_PER_S / tsc_hz);
    if (ns < last_mono)
        ns = last_mono;
    last_mono = ns;
    return ns;
}

uint64_t time_tsc_to_mono(uint64_t tsc)
{
    if (tsc >= anchor_tsc)
        return anchor_mono + (uint64_t)((unsigned __int128)(tsc - anchor_tsc) * NS_PER_S / tsc_hz);
    return anchor_mono - (uint64_t)((unsigned __int128)(anchor_tsc - tsc) * NS_PER_S / tsc_hz);
}

uint64_t time_wall_ns(void)
{
    return (uint64_t)((int64_t)time_mono_ns() + wall_offset);
}

static void to_ts(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / NS_PER_S);
    ts->tv_nsec = (long)(ns % NS_PER_S);
}

long sys_clock_gettime(clockid_t clk, struct timespec *ts)
{
    switch (clk) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_TAI:
        to_ts(time_wall_ns(), ts);
        return 0;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
        to_ts(time_mono_ns(), ts);
        return 0;
    case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID: /* one program on its own VM: CPU time ~ time since boot */
        to_ts(time_mono_ns() - boot_mono, ts);
        return 0;
    default:
        return -EINVAL;
    }
}

long sys_clock_getres(clockid_t clk, struct timespec *ts)
{
    struct timespec tmp;
    long r = sys_clock_gettime(clk, &tmp);
    if (r == 0 && ts) {
        ts->tv_sec = 0;
        ts->tv_nsec = 1;
    }
    return r;
}

long sys_gettimeofday(struct timeval *tv, void *tz)
{
    if (tv) {
        uint64_t ns = time_wall_ns();
        tv->tv_sec = (time_t)(ns / NS_PER_S);
        tv->tv_usec = (suseconds_t)(ns % NS_PER_S / 1000);
    }
    if (tz)
        __builtin_memset(tz, 0, 8); /* struct timezone: UTC */
    return 0;
}

long sys_time(time_t *t)
{
    time_t s = (time_t)(time_wall_ns() / NS_PER_S);
    if (t)
        *t = s;
    return (long)s;
}

/* Sleeps until the monotonic clock reaches `deadline`. */
static void sleep_until(uint64_t deadline)
{
    while (time_mono_ns() < deadline)
        loop_wait(deadline, 0);
}

long sys_clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
    if (req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= (long)NS_PER_S)
        return -EINVAL;
    uint64_t ns = (uint64_t)req->tv_sec * NS_PER_S + (uint64_t)req->tv_nsec;
    uint64_t now = time_mono_ns(), deadline;
    if (flags & TIMER_ABSTIME) {
        if (clk == CLOCK_REALTIME || clk == CLOCK_TAI)
            deadline = now + (ns > time_wall_ns() ? ns - time_wall_ns() : 0);
        else if (clk == CLOCK_MONOTONIC || clk == CLOCK_BOOTTIME)
            deadline = ns;
        else
            return -EINVAL;
    } else {
        if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME &&
            clk != CLOCK_TAI)
            return -EINVAL;
        deadline = ns > UINT64_MAX - now ? UINT64_MAX - 1 : now + ns;
    }
    sleep_until(deadline);
    if (rem && !(flags & TIMER_ABSTIME))
        rem->tv_sec = rem->tv_nsec = 0;
    return 0;
}

long sys_nanosleep(const struct timespec *req, struct timespec *rem)
{
    return sys_clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
}
