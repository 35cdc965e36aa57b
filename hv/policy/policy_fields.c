/* policy_fields.c: a policy's typed JSON fields, with errors that name the field. */
#include "policy/policy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int policy_field_fail(char *err, size_t errlen, const char *field, const char *msg)
{
    snprintf(err, errlen, "\"%s\": %s", field, msg);
    return -EINVAL;
}

/* A whole number from a string: "0x"-hex or decimal digits only. */
static bool parse_u64_text(const char *s, uint64_t *out)
{
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return false;
    for (const char *c = s; *c; c++)
        if (base == 10 ? (*c < '0' || *c > '9') : !strchr("0123456789abcdefABCDEF", *c))
            return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* An unsigned integer no larger than max: a JSON integer or a hex/decimal string. */
int policy_field_uint(const json_t *v, const char *field, uint64_t max, uint64_t *out, char *err,
                      size_t errlen)
{
    char msg[96];
    uint64_t x;

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return policy_field_fail(err, errlen, field, "must not be negative");
        x = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        if (!parse_u64_text(json_string_value(v), &x))
            return policy_field_fail(err, errlen, field,
                                     "expected a number, decimal or \"0x\" hex");
    } else if (json_is_real(v)) {
        return policy_field_fail(err, errlen, field, "expected a whole number");
    } else {
        return policy_field_fail(err, errlen, field, "expected a number, decimal or \"0x\" hex");
    }
    if (x > max) {
        snprintf(msg, sizeof msg, "0x%" PRIx64 " is above the maximum 0x%" PRIx64, x, max);
        return policy_field_fail(err, errlen, field, msg);
    }
    *out = x;
    return 0;
}

/* A count of units (ms, s) in [0] or [min, max]; reals are accepted so 0.5 is named as such. */
int policy_field_period(const json_t *v, const char *field, const char *unit, double min,
                        double max, uint32_t *out, char *err, size_t errlen)
{
    char msg[128];
    double d;
    uint64_t x;

    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v) && parse_u64_text(json_string_value(v), &x)) {
        d = (double)x;
    } else {
        return policy_field_fail(err, errlen, field, "expected a number");
    }
    if (d < 0 || isnan(d))
        snprintf(msg, sizeof msg, "%.15g %s is negative (0 turns it off)", d, unit);
    else if (d > 0 && d < min)
        snprintf(msg, sizeof msg, "%.15g %s is below the %.15g %s minimum", d, unit, min, unit);
    else if (d > max)
        snprintf(msg, sizeof msg, "%.15g %s is above the %.15g %s maximum", d, unit, max, unit);
    else if (d != floor(d))
        snprintf(msg, sizeof msg, "%.15g %s is not a whole number of %s", d, unit, unit);
    else {
        *out = (uint32_t)d;
        return 0;
    }
    return policy_field_fail(err, errlen, field, msg);
}

/* The fields of an object element, all required but `optional`; any other key is an error. */
int policy_field_keys(const json_t *o, const char *field, const char *const *keys, int n,
                      const char *optional, char *err, size_t errlen)
{
    char sub[POLICY_FIELD_MAX];
    const char *key;
    json_t *v;

    json_object_foreach(policy_json_mut(o), key, v)
    {
        int i = 0;
        while (i < n && strcmp(key, keys[i]))
            i++;
        if (i == n) {
            snprintf(sub, sizeof sub, "%s.%s", field, key);
            return policy_field_fail(err, errlen, sub, "unknown field");
        }
    }
    for (int i = 0; i < n; i++) {
        if (!json_object_get(o, keys[i]) && (!optional || strcmp(keys[i], optional))) {
            snprintf(sub, sizeof sub, "%s.%s", field, keys[i]);
            return policy_field_fail(err, errlen, sub, "missing");
        }
    }
    return 0;
}

int policy_field_list(const json_t *v, const char *field, size_t max, const char *what, char *err,
                      size_t errlen)
{
    char msg[96];
    if (!json_is_array(v)) {
        snprintf(msg, sizeof msg, "expected a list of %s", what);
        return policy_field_fail(err, errlen, field, msg);
    }
    if (json_array_size(v) > max) {
        snprintf(msg, sizeof msg, "%zu entries, at most %zu", json_array_size(v), max);
        return policy_field_fail(err, errlen, field, msg);
    }
    return 0;
}
