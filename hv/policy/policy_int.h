/* policy_int.h: helpers shared by the policy table's source files, not part of its API. */
#ifndef HV_POLICY_INT_H
#define HV_POLICY_INT_H

#include "policy/policy.h"

/*
 * Resolve an event/action pair by name and check it is allowed; messages name `field`
 * ("events.triple_fault" from JSON, "triple_fault" from a name=value line).  0 or -EINVAL.
 */
int policy_check_pair(const char *field, const char *event, const char *action, int *ev, int *act,
                      char *err, size_t errlen);
/* Publish a whole table and parameter set; the caller holds p->lock. */
void policy_commit_locked(struct policy *p, const unsigned char *actions,
                          const struct policy_params *pp);

#endif
