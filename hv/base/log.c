/* log.c: hv's diagnostic messages; one write(2) per line so threads do not interleave. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
bool log_crlf;

uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

uint64_t wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static uint64_t start;
    if (!start)
        start = now_ns();
    char line[1024];
    uint64_t t = now_ns() - start;
    int n = snprintf(line, sizeof line, "[hv %4llu.%06llu %s] ",
                     (unsigned long long)(t / 1000000000ull),
                     (unsigned long long)(t / 1000ull % 1000000ull), names[level]);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 2, fmt, ap);
    if (n > (int)sizeof line - 3)
        n = (int)sizeof line - 3;
    if (log_crlf)
        line[n++] = '\r'; /* the terminal is in raw mode */
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void hv_log(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void hv_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}

void hv_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int hv_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
