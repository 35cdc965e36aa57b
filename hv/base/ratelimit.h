/* ratelimit.h: token buckets that bound how often a source may add to a log, counting what they
 * refuse so that a summary can say how much was left out. */
#ifndef HV_RATELIMIT_H
#define HV_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_SOURCES    8  /* named buckets per table; further names share one */
#define RATELIMIT_SOURCE_MAX 24 /* bytes of a source's name, with its NUL */

/* At most `burst` events at once, then one per `period_ns` on average. */
struct ratelimit_cfg {
    uint32_t burst;
    uint64_t period_ns;
};

struct ratelimit {
    bool started;
    uint64_t credit_ns;  /* time banked towards events: period_ns buys one, burst of them max */
    uint64_t last_ns;    /* when the credit was last brought up to date */
    uint64_t suppressed; /* refused since ratelimit_suppressed last took the count */
    bool announced;      /* the first refusal of this run of refusals has been reported */
};

/* Whether an event at now_ns may pass (it uses one token); a refused one is counted. */
bool ratelimit_take(struct ratelimit *r, const struct ratelimit_cfg *c, uint64_t now_ns);
/* Whether ratelimit_take would pass now, without taking a token. */
bool ratelimit_ready(struct ratelimit *r, const struct ratelimit_cfg *c, uint64_t now_ns);
/* The events refused since the last call (0 if none), and a fresh count. */
uint64_t ratelimit_suppressed(struct ratelimit *r);
/* True the first time it is asked during a run of refusals (cleared by the next summary):
 * the caller may say once that it has started leaving entries out. */
bool ratelimit_announce(struct ratelimit *r);

/* One bucket per source name. */
struct ratelimit_table {
    uint32_t n;
    struct {
        char source[RATELIMIT_SOURCE_MAX];
        struct ratelimit r;
    } slot[RATELIMIT_SOURCES];
    struct ratelimit other; /* every source past the first RATELIMIT_SOURCES */
};

/* The bucket of `source` (made on first use; compared by its first RATELIMIT_SOURCE_MAX - 1
 * bytes); the shared `other` bucket once the table is full. */
struct ratelimit *ratelimit_find(struct ratelimit_table *t, const char *source);

#endif
