/* poll.c: readiness waiting for every descriptor kind: poll, ppoll, select, pselect6, and blocking
 * I/O. */
#include "svcos.h"
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

long ts_to_deadline(const void *timespec_user, uint64_t *deadline_ns)
{
    const struct timespec *ts = timespec_user;
    if (!ts) {
        *deadline_ns = UINT64_MAX;
        return 0;
    }
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= (long)NS_PER_S)
        return -EINVAL;
    if (!ts->tv_sec && !ts->tv_nsec) {
        *deadline_ns = 0;
        return 0;
    }
    uint64_t now = time_mono_ns();
    uint64_t ns = (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
    *deadline_ns =
        ns >= UINT64_MAX - now || (uint64_t)ts->tv_sec > (1ull << 33) ? UINT64_MAX : now + ns;
    return 0;
}

static unsigned ready_bits(struct file *f)
{
    unsigned r = file_poll(f);
    if (r & POLLIN)
        r |= POLLRDNORM;
    if (r & POLLOUT)
        r |= POLLWRNORM;
    return r;
}

static uint64_t wake_of(struct file *f)
{
    return f->ops->wake_events ? f->ops->wake_events(f) : 0;
}

__attribute__((noreturn)) static void deadlock(const char *what)
{
    kpanic("deadlock: %s waits forever for descriptors only this program could make ready", what);
}

/* Sleeps once in the loop for `wake` until `deadline`, or reports a deadlock. */
static void sleep_for(uint64_t wake, uint64_t deadline, const char *what)
{
    if (!wake && deadline == UINT64_MAX)
        deadlock(what);
    loop_wait(deadline, wake & ~WAKE_LOOP);
}

long poll_block(struct file *f, unsigned events, uint64_t deadline_ns)
{
    for (;;) {
        if (ready_bits(f) & (events | POLLERR | POLLHUP | POLLNVAL))
            return 0;
        if (deadline_ns != UINT64_MAX && time_mono_ns() >= deadline_ns)
            return -ETIMEDOUT;
        sleep_for(wake_of(f), deadline_ns, f->ops->kind);
    }
}

static long wait_pollfds(struct pollfd *p, unsigned long n, uint64_t deadline)
{
    /* Input that arrived since the program last waited (NIC frames, loopback packets, due
     * network timers) counts, even for a poll that does not wait. */
    loop_poll_sources();
    for (;;) {
        long count = 0;
        uint64_t wake = 0;
        for (unsigned long i = 0; i < n; i++) {
            p[i].revents = 0;
            if (p[i].fd < 0)
                continue;
            struct file *f = fd_get(p[i].fd);
            if (!f) {
                p[i].revents = POLLNVAL;
                count++;
                continue;
            }
            p[i].revents = (short)(ready_bits(f) &
                                   ((unsigned)(unsigned short)p[i].events | POLLERR | POLLHUP));
            if (p[i].revents)
                count++;
            wake |= wake_of(f);
        }
        if (count || (deadline != UINT64_MAX && time_mono_ns() >= deadline) || deadline == 0)
            return count;
        sleep_for(wake, deadline, "poll");
    }
}

long sys_poll(struct pollfd *p, unsigned long n, int timeout_ms)
{
    if (n > FD_MAX)
        return -EINVAL;
    uint64_t deadline =
        timeout_ms < 0 ? UINT64_MAX : time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    if (timeout_ms == 0)
        deadline = 0;
    return wait_pollfds(p, n, deadline);
}

long sys_ppoll(struct pollfd *p, unsigned long n, const struct timespec *ts, const void *sigmask,
               size_t sigsz)
{
    (void)sigmask, (void)sigsz;
    uint64_t deadline;
    if (n > FD_MAX)
        return -EINVAL;
    long r = ts_to_deadline(ts, &deadline);
    if (r < 0)
        return r;
    return wait_pollfds(p, n, deadline);
}

static long do_select(int n, fd_set *rd, fd_set *wr, fd_set *ex, uint64_t deadline)
{
    if (n < 0 || n > FD_MAX)
        return -EINVAL;
    struct pollfd *p = n ? kmalloc(sizeof *p * (size_t)n) : NULL;
    if (n && !p)
        return -ENOMEM;
    unsigned long cnt = 0;
    for (int fd = 0; fd < n; fd++) {
        short ev =
            (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) | (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
                    (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));
        if (!ev)
            continue;
        if (!fd_get(fd)) {
            kfree(p);
            return -EBADF;
        }
        p[cnt++] = (struct pollfd){.fd = fd, .events = ev};
    }
    long r = wait_pollfds(p, cnt, deadline);
    if (r >= 0) {
        if (rd)
            FD_ZERO(rd);
        if (wr)
            FD_ZERO(wr);
        if (ex)
            FD_ZERO(ex);
        r = 0;
        for (unsigned long i = 0; i < cnt; i++) {
            short ev = p[i].events, re = p[i].revents;
            if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)))
                FD_SET(p[i].fd, rd), r++;
            if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR)))
                FD_SET(p[i].fd, wr), r++;
            if ((ev & POLLPRI) && (re & POLLPRI))
                FD_SET(p[i].fd, ex), r++;
        }
    }
    kfree(p);
    return r;
}

long sys_select(int n, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    uint64_t deadline = UINT64_MAX;
    if (tv) {
        if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000)
            return -EINVAL;
        struct timespec ts = {.tv_sec = tv->tv_sec, .tv_nsec = tv->tv_usec * 1000};
        ts_to_deadline(&ts, &deadline);
    }
    long r = do_select(n, rd, wr, ex, deadline);
    if (tv && r >= 0) {
        uint64_t now = time_mono_ns(),
                 left = deadline > now && deadline != UINT64_MAX ? deadline - now : 0;
        tv->tv_sec = (time_t)(left / NS_PER_S);
        tv->tv_usec = (suseconds_t)(left % NS_PER_S / 1000);
    }
    return r;
}

long sys_pselect6(int n, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
                  const void *sig)
{
    (void)sig;
    uint64_t deadline;
    long r = ts_to_deadline(ts, &deadline);
    if (r < 0)
        return r;
    return do_select(n, rd, wr, ex, deadline);
}
