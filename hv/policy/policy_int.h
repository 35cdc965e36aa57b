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

/* A field's name as errors give it: "protected[3].len". */
#define POLICY_FIELD_MAX 64

/* Jansson's iterators take json_t *; the policy's readers only read through it. */
static inline json_t *policy_json_mut(const json_t *j)
{
    return (json_t *)(uintptr_t)j;
}

/*
 * The JSON field readers (policy_fields.c).  Each returns 0, or -EINVAL with err set to
 * "\"field\": what is wrong"; nothing is stored on an error.
 */
int policy_field_fail(char *err, size_t errlen, const char *field, const char *msg);
/* An unsigned integer no larger than max: a JSON integer or a "0x"-hex or decimal string. */
int policy_field_uint(const json_t *v, const char *field, uint64_t max, uint64_t *out, char *err,
                      size_t errlen);
/* A count of `unit`s (ms, s), 0 (off) or in [min, max]. */
int policy_field_period(const json_t *v, const char *field, const char *unit, double min,
                        double max, uint32_t *out, char *err, size_t errlen);
/* An object's keys: all n required but `optional` (may be NULL), no others. */
int policy_field_keys(const json_t *o, const char *field, const char *const *keys, int n,
                      const char *optional, char *err, size_t errlen);
/* A list of at most max entries; `what` names an entry in the error. */
int policy_field_list(const json_t *v, const char *field, size_t max, const char *what, char *err,
                      size_t errlen);

#endif
