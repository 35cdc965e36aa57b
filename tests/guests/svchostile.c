/* svchostile.c: test image: a hostile service VM on the service channel (bad addresses, huge
 * lengths, garbage framing, stale tickets); as a guest, it checks that the channel is refused. */
#include "rt.h"

#include <vigil/ctlproto.h>

static int failures;
static uint8_t req[512] __attribute__((aligned(16)));
static uint8_t resp[4096] __attribute__((aligned(16)));

static void expect(const char *what, int64_t got, int64_t want)
{
    if (got != want)
        failures++;
    rt_printf("svchostile: %s %s: got %ld, want %ld\n", got == want ? "ok" : "FAIL", what, got,
              want);
}

static int64_t call(uint64_t req_gpa, uint64_t req_len, uint64_t *ticket)
{
    struct vigil_hc_svc_call c = {.req_gpa = req_gpa, .req_len = req_len, .ret = 1};
    hc_call(VIGIL_HC_SVC_CALL, &c);
    if (ticket)
        *ticket = c.ticket;
    return c.ret;
}

static int64_t collect(uint64_t ticket, uint64_t gpa, uint64_t cap, uint64_t *len)
{
    struct vigil_hc_svc_call c = {.resp_gpa = gpa, .resp_cap = cap, .ticket = ticket, .ret = 1};
    hc_call(VIGIL_HC_SVC_CALL, &c);
    *len = c.resp_len;
    return c.ret;
}

/* Waits for the answer to `ticket`, collects it into resp; returns its length (0 on failure). */
static uint64_t answer(uint64_t ticket)
{
    uint64_t len = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t r = collect(ticket, (uintptr_t)resp, sizeof resp - 1, &len);
        if (r == 0) {
            resp[len] = 0;
            return len;
        }
        if (r != VIGIL_EAGAIN)
            return 0;
        rt_wait(rt_monotonic_ns() + 100000000ull, VIGIL_EV_REPLY);
    }
    return 0;
}

static int contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncmp(hay, needle, n))
            return 1;
    return 0;
}

/* Submits len bytes of req, then expects an answer whose JSON names `code` and `text`. */
static void expect_answer(const char *what, size_t len, const char *code, const char *text)
{
    uint64_t ticket = 0;
    int64_t r = call((uintptr_t)req, len, &ticket);
    uint64_t n = r == VIGIL_EAGAIN ? answer(ticket) : 0;
    const char *json = (const char *)resp + sizeof(struct vigil_ctl_header);
    int ok = n > sizeof(struct vigil_ctl_header) && contains(json, code) && contains(json, text);
    failures += !ok;
    rt_printf("svchostile: %s %s: %s\n", ok ? "ok" : "FAIL", what, n ? json : "no answer");
}

static size_t frame(const char *json, uint32_t json_len, uint32_t data_len)
{
    struct vigil_ctl_header h = {VIGIL_CTL_MAGIC, VIGIL_CTL_VERSION, VIGIL_CTL_REQUEST, json_len,
                                 data_len};
    memcpy(req, &h, sizeof h);
    size_t n = strlen(json);
    memcpy(req + sizeof h, json, n);
    return sizeof h + n;
}

static void hostile_service(uint64_t ram)
{
    expect("request beyond RAM", call(ram - 8, 64, NULL), VIGIL_EFAULT);
    expect("request wrapping around", call(UINT64_MAX - 15, 32, NULL), VIGIL_EFAULT);
    expect("request over the limit", call((uintptr_t)req, VIGIL_SVC_REQ_MAX + 1, NULL),
           VIGIL_E2BIG);
    expect("request of 2^64-1 bytes", call((uintptr_t)req, UINT64_MAX, NULL), VIGIL_E2BIG);
    uint64_t len;
    expect("collect of a call never made", collect(12345, (uintptr_t)resp, sizeof resp, &len),
           VIGIL_ENOENT);

    for (size_t i = 0; i < 64; i++)
        req[i] = (uint8_t)(i * 37 + 11);
    expect_answer("garbage", 64, "EPROTO", "bad magic");
    expect_answer("a few bytes", 5, "EPROTO", "truncated");
    size_t n = frame("{\"op\":\"hello\"}", 14, 0);
    expect_answer("header promising more than the call carries", n - 3, "EPROTO", "truncated");
    n = frame("{\"op\":\"hello\"}", 14, 0);
    expect_answer("bytes after the frame", n + 7, "EPROTO", "follow");
    n = frame("{\"op\":\"hello\"}", 14, 1u << 30);
    expect_answer("a data length of 1 GiB", n, "EPROTO", "data length");
    n = frame("{\"op\":\"hello\"", 13, 0);
    expect_answer("invalid JSON", n, "EINVAL", "invalid JSON");
    n = frame("{\"op\":\"quit\"}", 13, 0);
    expect_answer("quit", n, "EPERM", "not granted");
    n = frame("{\"op\":\"service.detach\"}", 23, 0);
    expect_answer("service.detach", n, "EPERM", "not granted");

    /* A good call, collected wrongly first: the answer waits for a buffer that fits. */
    n = frame("{\"op\":\"status\"}", 15, 0);
    uint64_t ticket = 0;
    expect("status submitted", call((uintptr_t)req, n, &ticket), VIGIL_EAGAIN);
    rt_wait(rt_monotonic_ns() + 1000000000ull, VIGIL_EV_REPLY);
    int64_t r;
    while ((r = collect(ticket, ram - 16, 4096, &len)) == VIGIL_EAGAIN)
        rt_wait(rt_monotonic_ns() + 100000000ull, VIGIL_EV_REPLY);
    expect("answer into a buffer beyond RAM", r, VIGIL_EFAULT);
    expect("answer into 8 bytes", collect(ticket, (uintptr_t)resp, 8, &len), VIGIL_E2BIG);
    expect("the size it needs is given", len > 100 && len < sizeof resp, 1);
    uint64_t need = len;
    expect("collect with a wrong ticket", collect(ticket + 1, (uintptr_t)resp, sizeof resp, &len),
           VIGIL_ENOENT);
    expect("collect into a buffer that fits", collect(ticket, (uintptr_t)resp, sizeof resp, &len),
           0);
    expect("the whole answer", len, (int64_t)need);
    expect("collected twice", collect(ticket, (uintptr_t)resp, sizeof resp, &len), VIGIL_ENOENT);
    resp[len < sizeof resp ? len : sizeof resp - 1] = 0;
    expect("it is the status", contains((const char *)resp + 16, "\"vms\""), 1);
}

int guest_main(const struct vigil_boot_info *bi)
{
    if (bi->flags & VIGIL_BOOT_F_SERVICE) {
        expect("the channel is offered", (int64_t)(rt_features & VIGIL_FEAT_SVCCHAN) != 0, 1);
        hostile_service(bi->mem_size);
    } else {
        expect("the channel is not offered", (int64_t)(rt_features & VIGIL_FEAT_SVCCHAN), 0);
        size_t n = frame("{\"op\":\"status\"}", 15, 0);
        expect("a guest's call", call((uintptr_t)req, n, NULL), VIGIL_EPERM);
        expect("a guest's second call", call((uintptr_t)req, n, NULL), VIGIL_EPERM);
    }
    rt_printf("svchostile: %d failure(s)\n", failures);
    if (!(bi->flags & VIGIL_BOOT_F_SERVICE))
        rt_halt(failures ? 1 : 0, "svchostile done");
    for (;;) /* a service VM that halts is restarted: stay */
        rt_wait(UINT64_MAX, VIGIL_EV_CONSOLE_IN);
}
