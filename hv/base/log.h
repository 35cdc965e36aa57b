/* log.h: hv's diagnostic messages on stderr, with levels and a monotonic timestamp. */
#ifndef HV_LOG_H
#define HV_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;
extern bool log_crlf; /* end lines with CR LF while the terminal is raw */

void hv_log(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
__attribute__((noreturn)) void hv_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Formats an error message into err (if err and errlen allow). */
void hv_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* hv_seterr, then -1: `return hv_fail(err, errlen, ...)` where a function fails with -1. */
int hv_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Nanoseconds on CLOCK_MONOTONIC and CLOCK_REALTIME. */
uint64_t now_ns(void);
uint64_t wall_ns(void);

#define log_error(...) hv_log(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  hv_log(LOG_WARN, __VA_ARGS__)
#define log_info(...)  hv_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) hv_log(LOG_DEBUG, __VA_ARGS__)

#endif
