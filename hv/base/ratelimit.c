/* ratelimit.c: token buckets kept as banked time, so that refills need no timer and integer
 * arithmetic suffices. */
#include "base/ratelimit.h"

#include <stdio.h>
#include <string.h>

static void refill(struct ratelimit *r, const struct ratelimit_cfg *c, uint64_t now_ns)
{
    uint64_t cap = (uint64_t)c->burst * c->period_ns;
    if (!r->started) {
        r->started = true;
        r->credit_ns = cap;
        r->last_ns = now_ns;
        return;
    }
    /* A clock that went back gives nothing, and banking stops at the burst. */
    uint64_t gained = now_ns > r->last_ns ? now_ns - r->last_ns : 0;
    r->credit_ns = gained >= cap - r->credit_ns ? cap : r->credit_ns + gained;
    r->last_ns = now_ns > r->last_ns ? now_ns : r->last_ns;
}

bool ratelimit_ready(struct ratelimit *r, const struct ratelimit_cfg *c, uint64_t now_ns)
{
    refill(r, c, now_ns);
    return c->burst && r->credit_ns >= c->period_ns;
}

bool ratelimit_take(struct ratelimit *r, const struct ratelimit_cfg *c, uint64_t now_ns)
{
    if (ratelimit_ready(r, c, now_ns)) {
        r->credit_ns -= c->period_ns;
        return true;
    }
    r->suppressed++;
    return false;
}

uint64_t ratelimit_suppressed(struct ratelimit *r)
{
    uint64_t n = r->suppressed;
    r->suppressed = 0;
    r->announced = false;
    return n;
}

bool ratelimit_announce(struct ratelimit *r)
{
    if (r->announced)
        return false;
    r->announced = true;
    return true;
}

struct ratelimit *ratelimit_find(struct ratelimit_table *t, const char *source)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (!strncmp(t->slot[i].source, source, RATELIMIT_SOURCE_MAX - 1))
            return &t->slot[i].r;
    if (t->n == RATELIMIT_SOURCES)
        return &t->other;
    snprintf(t->slot[t->n].source, RATELIMIT_SOURCE_MAX, "%s", source);
    memset(&t->slot[t->n].r, 0, sizeof t->slot[t->n].r);
    return &t->slot[t->n++].r;
}
