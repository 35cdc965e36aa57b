/* spin.c: test guest: a CPU-bound guest that never yields (no hypercalls while it spins). */
#include "rt.h"

volatile uint64_t spin_counter;

int guest_main(const struct vigil_boot_info *bi)
{
    (void)bi;
    rt_puts("spin: spinning\n");
    for (;;)
        spin_counter++;
}
