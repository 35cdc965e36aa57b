/* loop.c: the single event loop: runs input sources (NIC polling, timers), sends heartbeats, sleeps
 * in hv's WAIT. */
#include "svcos.h"

static struct loop_source *sources;
static uint64_t heartbeat_ns, last_heartbeat, heartbeats;
static int configured;

static void configure(void)
{
    /* The service VM tells hv's watchdog it is alive; others only if asked. */
    uint64_t dflt = svcos_boot_info && (svcos_boot_info->flags & VIGIL_BOOT_F_SERVICE) ? 1000 : 0;
    heartbeat_ns = svcos_cmdline_u64("svcos.heartbeat_ms", dflt) * 1000000ull;
    configured = 1;
}

void loop_add_source(struct loop_source *src)
{
    src->next = sources;
    sources = src;
}

int loop_poll_sources(void)
{
    int changed = 0;
    for (struct loop_source *s = sources; s; s = s->next)
        if (s->poll && s->poll())
            changed = 1;
    return changed;
}

static void heartbeat(uint64_t now)
{
    if (heartbeat_ns && now - last_heartbeat >= heartbeat_ns) {
        hv_heartbeat(++heartbeats);
        last_heartbeat = now;
    }
}

uint64_t loop_wait(uint64_t deadline_ns, uint64_t hv_events)
{
    if (!configured)
        configure();
    uint64_t now = time_mono_ns();
    heartbeat(now);
    /* Input that arrived meanwhile may already satisfy the caller. */
    if (loop_poll_sources())
        return 0;
    uint64_t deadline = deadline_ns, events = hv_events;
    for (struct loop_source *s = sources; s; s = s->next) {
        events |= s->hv_events;
        uint64_t d = s->deadline ? s->deadline() : UINT64_MAX;
        if (d < deadline)
            deadline = d;
    }
    if (heartbeat_ns && last_heartbeat + heartbeat_ns < deadline)
        deadline = last_heartbeat + heartbeat_ns;
    if (deadline <= now)
        deadline = 0; /* just poll */
    uint64_t ready = hv_wait(deadline, events);
    loop_poll_sources();
    return ready;
}
