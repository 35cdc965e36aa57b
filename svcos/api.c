/* api.c: svcos's direct interface for programs (include/svcos.h): hv time, memory use, TSC rate. */
#include "include/svcos.h"
#include "svcos.h"

void svcos_hv_time(uint64_t *wall_ns, uint64_t *mono_ns)
{
    hv_time(wall_ns, mono_ns);
}

void svcos_mem_usage(uint64_t *total_pages, uint64_t *used_pages, uint64_t *peak_pages)
{
    struct mem_stats st;
    mem_stats(&st);
    if (total_pages)
        *total_pages = st.total_pages;
    if (used_pages)
        *used_pages = st.used_pages;
    if (peak_pages)
        *peak_pages = st.peak_pages;
}

uint64_t svcos_entry_mono_ns(void)
{
    return time_tsc_to_mono(svcos_entry_tsc);
}

uint64_t svcos_tsc_hz(void)
{
    return time_tsc_hz();
}
