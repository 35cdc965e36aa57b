/* st_io.c: self-test checks for descriptors (pipes, eventfd, socketpair; poll, select, epoll),
 * clocks against hv's, and getrandom. */
#define _GNU_SOURCE
#include "selftest.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svcos.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

extern void svcos_hv_time(uint64_t *wall_ns, uint64_t *mono_ns) __attribute__((weak));

static int pipes_and_poll(char *why)
{
    int p[2];
    char ch;
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        return fail(why, "pipe2: %s", strerror(errno));
    if (read(p[0], &ch, 1) != -1 || errno != EAGAIN)
        return fail(why, "empty non-blocking pipe read did not give EAGAIN");
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    if (poll(&pf, 1, 0) != 0 || write(p[1], "x", 1) != 1 || poll(&pf, 1, 0) != 1 ||
        !(pf.revents & POLLIN))
        return fail(why, "poll on a pipe");
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 0};
    if (select(p[0] + 1, &rs, NULL, NULL, &tv) != 1 || !FD_ISSET(p[0], &rs))
        return fail(why, "select on a pipe");
    if (read(p[0], &ch, 1) != 1 || ch != 'x')
        return fail(why, "pipe read");
    close(p[1]);
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLHUP) || read(p[0], &ch, 1) != 0)
        return fail(why, "pipe EOF/POLLHUP");
    close(p[0]);
    return 0;
}

static int eventfd_and_socketpair(char *why)
{
    int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t v = 3;
    if (e < 0 || write(e, &v, 8) != 8 || write(e, &v, 8) != 8 || read(e, &v, 8) != 8 || v != 6 ||
        read(e, &v, 8) != -1 || errno != EAGAIN)
        return fail(why, "eventfd counter");
    close(e);
    int sv[2];
    char buf[64];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return fail(why, "socketpair: %s", strerror(errno));
    if (send(sv[0], "ping", 4, MSG_NOSIGNAL) != 4 || recv(sv[1], buf, sizeof buf, MSG_PEEK) != 4 ||
        recv(sv[1], buf, sizeof buf, 0) != 4 || memcmp(buf, "ping", 4))
        return fail(why, "socketpair send/recv");
    if (shutdown(sv[0], SHUT_WR) < 0 || recv(sv[1], buf, sizeof buf, 0) != 0)
        return fail(why, "shutdown(SHUT_WR) did not give EOF");
    int d = dup(sv[1]);
    if (d < 0 || fcntl(d, F_SETFD, FD_CLOEXEC) < 0 || !(fcntl(d, F_GETFD) & FD_CLOEXEC))
        return fail(why, "dup/fcntl");
    close(d);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static int epoll_modes(char *why)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), p[2], e = eventfd(0, EFD_NONBLOCK);
    if (ep < 0 || e < 0 || pipe2(p, O_NONBLOCK) < 0)
        return fail(why, "epoll_create1/eventfd/pipe2");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u32 = 2};
    epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev);
    struct epoll_event out[4];
    double t0 = now_ms();
    if (epoll_wait(ep, out, 4, 30) != 0 || now_ms() - t0 < 29)
        return fail(why, "epoll_wait timeout: %.1f ms", now_ms() - t0);
    uint64_t one = 1;
    if (write(p[1], "y", 1) != 1 || write(e, &one, 8) != 8 || epoll_wait(ep, out, 4, 1000) != 2)
        return fail(why, "epoll_wait did not report both");
    int n = epoll_wait(ep, out, 4, 0); /* level-triggered again, edge-triggered not */
    if (n != 1 || out[0].data.u32 != 1)
        return fail(why, "level/edge triggering: %d events", n);
    close(p[0]); /* closing removes it from the set */
    if (epoll_wait(ep, out, 4, 0) != 0)
        return fail(why, "closed descriptor still reported");
    close(p[1]);
    close(e);
    close(ep);
    return 0;
}

int check_fds(struct st_ctx *c, char *why)
{
    (void)c;
    return pipes_and_poll(why) || eventfd_and_socketpair(why) || epoll_modes(why) ? -1 : 0;
}

static double ts_ms(const struct timespec *ts)
{
    return (double)ts->tv_sec * 1e3 + (double)ts->tv_nsec / 1e6;
}

int check_clock(struct st_ctx *c, char *why)
{
    struct timespec m0, m1, r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &m0);
    clock_gettime(CLOCK_REALTIME, &r0);
    for (int i = 0; i < 2 && svcos_hv_time; i++) {
        uint64_t wall;
        struct timespec r;
        svcos_hv_time(&wall, NULL);
        clock_gettime(CLOCK_REALTIME, &r);
        double skew = ts_ms(&r) - (double)wall / 1e6;
        if (skew < 0)
            skew = -skew;
        if (skew > c->clock_skew_ms)
            c->clock_skew_ms = skew;
        if (skew > 50)
            return fail(why, "CLOCK_REALTIME is %.1f ms off hv's clock", skew);
        if (i == 0)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    if (!svcos_hv_time)
        nanosleep(&(struct timespec){0, 100000000}, NULL);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    clock_gettime(CLOCK_REALTIME, &r1);
    double dm = ts_ms(&m1) - ts_ms(&m0), dr = ts_ms(&r1) - ts_ms(&r0);
    if (dm < 100 || dm > 400 || dr < 90 || dr > 410)
        return fail(why, "a 100 ms sleep took %.1f ms monotonic, %.1f ms realtime", dm, dr);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double d = (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3 - ts_ms(&r1);
    if (d < -1 || d > 50 || labs((long)time(NULL) - (long)tv.tv_sec) > 1)
        return fail(why, "gettimeofday/time disagree with clock_gettime by %.1f ms", d);
    return 0;
}

int check_random(struct st_ctx *c, char *why)
{
    (void)c;
    unsigned char a[64], b[64], z[64] = {0};
    if (getrandom(a, sizeof a, 0) != 64 || getrandom(b, sizeof b, GRND_NONBLOCK) != 64)
        return fail(why, "getrandom: %s", strerror(errno));
    if (!memcmp(a, b, 64) || !memcmp(a, z, 64))
        return fail(why, "getrandom repeats itself or returns zeros");
    static unsigned char big[65536];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, big, sizeof big) != (ssize_t)sizeof big)
        return fail(why, "/dev/urandom: %s", strerror(errno));
    close(fd);
    long ones = 0;
    for (size_t i = 0; i < sizeof big; i++)
        ones += __builtin_popcount(big[i]);
    double frac = (double)ones / (8.0 * sizeof big);
    if (frac < 0.49 || frac > 0.51)
        return fail(why, "biased output: %.4f of bits set", frac);
    return 0;
}
