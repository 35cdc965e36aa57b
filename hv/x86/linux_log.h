/* linux_log.h: a Linux guest's log buffer, found through its System.map, and its panic reason. */
#ifndef HV_LINUX_LOG_H
#define HV_LINUX_LOG_H

#include "x86/pagewalk.h"

#include <stddef.h>
#include <stdint.h>

/* The kernel symbols hv reads a crashed Linux guest with (addresses as System.map gives them:
 * without KASLR, the guest's own; docs/linux-guest.md). */
struct linux_syms {
    uint64_t log_buf;     /* printk.c's `static char *log_buf`: the text data ring */
    uint64_t log_buf_len; /* printk.c's `static u32 log_buf_len`: its size */
    uint64_t linux_banner;
    uint64_t prb; /* `struct printk_ringbuffer *prb`: its records' lengths (0: not in the map) */
};

/* Reads a System.map ("ADDR TYPE NAME" lines) for the symbols above.  Returns 0, or -1 naming
 * the problem (a line that is no symbol, a symbol missing: Debian's placeholder map). */
int linux_syms_parse(const char *text, size_t len, struct linux_syms *out, char *err,
                     size_t errlen);

/* The reason of the last "Kernel panic - not syncing: REASON" in the guest's log buffer, read
 * through the page tables in c (a stopped vCPU's), into out (printable text, at most outlen - 1
 * bytes); "unknown" if the buffer cannot be read or holds no panic.  Returns whether it found
 * one. */
bool linux_panic_reason(const struct pagewalk_ctx *c, const struct linux_syms *s, char *out,
                        size_t outlen);

#endif
