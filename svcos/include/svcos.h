/* svcos.h: what programs linked with svcos may ask it directly (beyond the Linux system calls). */
#ifndef SVCOS_PUBLIC_H
#define SVCOS_PUBLIC_H

#include <stdint.h>

/* Programs that also run natively declare these weak and test for NULL. */

/* hv's clocks (TIME hypercall), in ns: host CLOCK_REALTIME and CLOCK_MONOTONIC. */
void svcos_hv_time(uint64_t *wall_ns, uint64_t *mono_ns);
/* Pages (4 KiB) svcos manages, in use now, and the most ever in use. */
void svcos_mem_usage(uint64_t *total_pages, uint64_t *used_pages, uint64_t *peak_pages);
/* The TSC frequency svcos's clocks run on. */
uint64_t svcos_tsc_hz(void);
/* CLOCK_MONOTONIC (ns) when hv entered svcos: main() minus this is svcos's boot time. */
uint64_t svcos_entry_mono_ns(void);

#endif
