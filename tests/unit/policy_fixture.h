/* policy_fixture.h: a trap policy with hv's board's reserved ports, for the policy tests. */
#ifndef VIGIL_TEST_POLICY_FIXTURE_H
#define VIGIL_TEST_POLICY_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "policy/policy.h"

/* What hv's board reserves (supervisor/board.c; test_devices.c checks they agree). */
static const struct policy_port_owner reserved[] = {
    {0x3f8, 0x3ff, "uart"}, {0x505, 0x505, "pvpanic"}, {0x700, 0x71f, "hypercall"}};

static inline struct policy *fresh(void)
{
    struct policy *p = calloc(1, sizeof *p);
    assert_non_null(p);
    policy_init_defaults(p, reserved, sizeof reserved / sizeof reserved[0]);
    return p;
}

static inline void drop(struct policy *p)
{
    policy_destroy(p);
    free(p);
}

#endif
