/* xss.c: test guest: puts markup into every string it controls (its console and its panic
 * message), so the dashboard's tests can check that markup is shown as text, never run. */
#include "rt.h"

static const char markup[] =
    "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>";

int guest_main(const struct vigil_boot_info *bi)
{
    (void)bi;
    rt_printf("xss: %s\n", markup);
    struct vigil_hc_panic p = {
        .code = 7, .msg_gpa = (uintptr_t)markup, .msg_len = sizeof markup - 1};
    hc_call(VIGIL_HC_PANIC, &p);
    rt_halt(0, "xss: the panic returned");
}
