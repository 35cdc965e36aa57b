/* svcchan.c: the service channel's client: frames a request, submits it with SVC_CALL, sleeps in
 * WAIT until hv raises VIGIL_EV_REPLY, collects the answer and checks its framing. */
#include "svcos.h"

#include "include/svcchan.h"

#include <errno.h>
#include <stdio.h>
#include <vigil/ctlproto.h>

/* The public header's copies of the protocol's numbers. */
_Static_assert(SVCCHAN_ANSWER_OVERHEAD == sizeof(struct vigil_ctl_header) + VIGIL_CTL_JSON_MAX,
               "overhead");
_Static_assert(SVCCHAN_PROTOCOL == VIGIL_CTL_VERSION, "protocol");

/* One request at a time (hv takes one per VM): framed here, where hv can read it. */
static uint8_t req_buf[VIGIL_SVC_REQ_MAX] __attribute__((aligned(16)));
static uint64_t last_ticket;

#define BUSY_TRIES 1000 /* 1 ms apart */

static int hc_errno(int64_t ret)
{
    return ret == VIGIL_E2BIG    ? -E2BIG
           : ret == VIGIL_EFAULT ? -EFAULT
           : ret == VIGIL_EBUSY  ? -EBUSY
           : ret == VIGIL_ENOENT ? -ENOENT
           : ret == VIGIL_EINVAL ? -EINVAL
           : ret == VIGIL_EAGAIN ? -EAGAIN
                                 : -ENOSYS; /* EPERM (not the service VM), ENOSYS */
}

int svcchan_available(void)
{
    uint64_t features = 0;
    return hv_version(&features) >= 0 && (features & VIGIL_FEAT_SVCCHAN);
}

static int parse(const uint8_t *buf, size_t len, struct svcchan_reply *r)
{
    struct vigil_ctl_header h;
    if (len < sizeof h)
        return -EPROTO;
    __builtin_memcpy(&h, buf, sizeof h);
    if (h.magic != VIGIL_CTL_MAGIC || h.version != VIGIL_CTL_VERSION ||
        h.kind != VIGIL_CTL_RESPONSE || h.json_len == 0 || h.json_len > VIGIL_CTL_JSON_MAX ||
        h.data_len > VIGIL_CTL_DATA_MAX || sizeof h + (size_t)h.json_len + h.data_len != len)
        return -EPROTO;
    r->json = (const char *)buf + sizeof h;
    r->json_len = h.json_len;
    r->data = buf + sizeof h + h.json_len;
    r->data_len = h.data_len;
    return 0;
}

int svcchan_collect(void *buf, size_t cap, struct svcchan_reply *r)
{
    *r = (struct svcchan_reply){0};
    for (;;) {
        struct vigil_hc_svc_call c = {
            .resp_gpa = (uintptr_t)buf, .resp_cap = cap, .ticket = last_ticket};
        hv_svc_call(&c);
        if (c.ret == 0)
            return parse(buf, c.resp_len, r);
        if (c.ret == VIGIL_E2BIG)
            r->needed = c.resp_len;
        if (c.ret != VIGIL_EAGAIN)
            return hc_errno(c.ret);
        hv_wait(UINT64_MAX, VIGIL_EV_REPLY); /* spurious returns: collect says EAGAIN again */
    }
}

int svcchan_call(const char *json, size_t json_len, const void *data, size_t data_len, void *buf,
                 size_t cap, struct svcchan_reply *r)
{
    struct vigil_ctl_header h = {.magic = VIGIL_CTL_MAGIC,
                                 .version = VIGIL_CTL_VERSION,
                                 .kind = VIGIL_CTL_REQUEST,
                                 .json_len = (uint32_t)json_len,
                                 .data_len = (uint32_t)data_len};
    *r = (struct svcchan_reply){0};
    if (json_len > VIGIL_CTL_JSON_MAX || sizeof h + json_len + data_len > sizeof req_buf)
        return -E2BIG;
    __builtin_memcpy(req_buf, &h, sizeof h);
    __builtin_memcpy(req_buf + sizeof h, json, json_len);
    if (data_len)
        __builtin_memcpy(req_buf + sizeof h + json_len, data, data_len);
    struct vigil_hc_svc_call c;
    /* EBUSY: a call made before this VM restarted is still being answered; hv drops that
     * answer at the next submit, so wait for it, briefly. */
    for (int tries = 0;; tries++) {
        c = (struct vigil_hc_svc_call){.req_gpa = (uintptr_t)req_buf,
                                       .req_len = sizeof h + json_len + data_len};
        hv_svc_call(&c);
        if (c.ret != VIGIL_EBUSY || tries == BUSY_TRIES)
            break;
        uint64_t now;
        hv_time(NULL, &now);
        hv_wait(now + 1000000, VIGIL_EV_REPLY);
    }
    if (c.ret != VIGIL_EAGAIN)
        return hc_errno(c.ret);
    last_ticket = c.ticket;
    return svcchan_collect(buf, cap, r);
}

int svcchan_events(uint64_t after, unsigned max, void *buf, size_t cap, struct svcchan_reply *r)
{
    char json[96];
    int n = snprintf(json, sizeof json, "{\"op\":\"events\",\"after\":%llu,\"max\":%u}",
                     (unsigned long long)after, max);
    return svcchan_call(json, (size_t)n, NULL, 0, buf, cap, r);
}

int svcchan_wait_event(uint64_t deadline_ns)
{
    return hv_wait(deadline_ns, VIGIL_EV_CHANNEL) ? 1 : 0;
}
