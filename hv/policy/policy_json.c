/* policy_json.c: the trap policy as JSON: its sections, all-or-nothing apply, load, dump. */
#include "policy/policy.h"
#include "policy/policy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int apply_events(const json_t *obj, unsigned char *actions, char *err, size_t errlen)
{
    char field[POLICY_FIELD_MAX];
    const char *key;
    json_t *v;
    int ev, act;

    if (!json_is_object(obj))
        return policy_field_fail(err, errlen, "events", "expected an object of event: action");
    json_object_foreach(policy_json_mut(obj), key, v)
    {
        snprintf(field, sizeof field, "events.%s", key);
        if (!json_is_string(v)) {
            int rc = policy_check_pair(field, key, "", &ev, &act, err, errlen);
            return rc && ev < 0 ? rc
                                : policy_field_fail(err, errlen, field, "expected an action name");
        }
        int rc = policy_check_pair(field, key, json_string_value(v), &ev, &act, err, errlen);
        if (rc)
            return rc;
        actions[ev] = (unsigned char)act;
    }
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    uint64_t x = ((const struct policy_range *)a)->gpa, y = ((const struct policy_range *)b)->gpa;
    return x < y ? -1 : x > y;
}

static int apply_protected(const json_t *arr, struct policy_params *pp, char *err, size_t errlen)
{
    static const char *const keys[] = {"gpa", "len"};
    char field[POLICY_FIELD_MAX], sub[POLICY_FIELD_MAX], msg[128];
    uint64_t gpa, len;
    int rc = policy_field_list(arr, "protected", POLICY_MAX_PROTECTED, "{\"gpa\", \"len\"}", err,
                               errlen);

    for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
        const json_t *o = json_array_get(arr, i);
        snprintf(field, sizeof field, "protected[%zu]", i);
        if (!json_is_object(o))
            return policy_field_fail(err, errlen, field, "expected {\"gpa\", \"len\"}");
        if ((rc = policy_field_keys(o, field, keys, 2, NULL, err, errlen)))
            return rc;
        snprintf(sub, sizeof sub, "%s.gpa", field);
        if ((rc = policy_field_uint(json_object_get(o, "gpa"), sub, POLICY_GPA_LIMIT - 1, &gpa, err,
                                    errlen)))
            return rc;
        if (gpa % POLICY_PAGE_SIZE) {
            snprintf(msg, sizeof msg, "not page aligned (0x%" PRIx64 ")", gpa);
            return policy_field_fail(err, errlen, sub, msg);
        }
        snprintf(sub, sizeof sub, "%s.len", field);
        if ((rc = policy_field_uint(json_object_get(o, "len"), sub, POLICY_GPA_LIMIT, &len, err,
                                    errlen)))
            return rc;
        if (!len || len % POLICY_PAGE_SIZE) {
            snprintf(msg, sizeof msg,
                     "%" PRIu64 " is not a whole, non-zero number of %u-byte pages", len,
                     POLICY_PAGE_SIZE);
            return policy_field_fail(err, errlen, sub, msg);
        }
        if (len > POLICY_GPA_LIMIT - gpa)
            return policy_field_fail(err, errlen, field,
                                     "ends beyond the 52-bit guest-physical space");
        for (size_t j = 0; j < i; j++) {
            const struct policy_range *r = &pp->protected_ranges[j];
            if (gpa < r->gpa + r->len && r->gpa < gpa + len) {
                snprintf(msg, sizeof msg,
                         "0x%" PRIx64 "-0x%" PRIx64 " overlaps protected[%zu] 0x%" PRIx64
                         "-0x%" PRIx64,
                         gpa, gpa + len - 1, j, r->gpa, r->gpa + r->len - 1);
                return policy_field_fail(err, errlen, field, msg);
            }
        }
        pp->protected_ranges[i] = (struct policy_range){gpa, len};
    }
    if (rc)
        return rc;
    /* Stored in address order, whatever the order given: memslots are laid out that way, and
     * `policy get` shows what is in force.  (Errors above name the entries as given.) */
    pp->nprotected = (uint32_t)json_array_size(arr);
    qsort(pp->protected_ranges, pp->nprotected, sizeof pp->protected_ranges[0], cmp_range);
    return 0;
}

static int apply_ports(const struct policy *p, const json_t *arr, struct policy_params *pp,
                       char *err, size_t errlen)
{
    static const char *const keys[] = {"first", "last"};
    char field[POLICY_FIELD_MAX], sub[POLICY_FIELD_MAX], msg[128];
    uint64_t first, last;
    int rc = policy_field_list(arr, "forbidden_ports", POLICY_MAX_PORT_RANGES,
                               "ports or {\"first\", \"last\"}", err, errlen);

    for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
        const json_t *o = json_array_get(arr, i);
        snprintf(field, sizeof field, "forbidden_ports[%zu]", i);
        if (!json_is_object(o)) {
            if ((rc = policy_field_uint(o, field, 0xffff, &first, err, errlen)))
                return rc;
            last = first;
        } else {
            if ((rc = policy_field_keys(o, field, keys, 2, "last", err, errlen)))
                return rc;
            snprintf(sub, sizeof sub, "%s.first", field);
            if ((rc = policy_field_uint(json_object_get(o, "first"), sub, 0xffff, &first, err,
                                        errlen)))
                return rc;
            last = first;
            snprintf(sub, sizeof sub, "%s.last", field);
            if (json_object_get(o, "last") &&
                (rc = policy_field_uint(json_object_get(o, "last"), sub, 0xffff, &last, err,
                                        errlen)))
                return rc;
            if (first > last) {
                snprintf(msg, sizeof msg, "first 0x%" PRIx64 " is above last 0x%" PRIx64, first,
                         last);
                return policy_field_fail(err, errlen, field, msg);
            }
        }
        for (uint64_t port = first; port <= last; port++) {
            const char *owner = policy_port_reserved(p, (uint16_t)port);
            if (owner) {
                snprintf(msg, sizeof msg,
                         "port 0x%" PRIx64 " belongs to the %s device and cannot be forbidden",
                         port, owner);
                return policy_field_fail(err, errlen, field, msg);
            }
        }
        pp->ports[i] = (struct policy_port_range){(uint16_t)first, (uint16_t)last};
    }
    if (!rc)
        pp->nports = (uint32_t)json_array_size(arr);
    return rc;
}

static int apply_msrs(const json_t *arr, struct policy_params *pp, char *err, size_t errlen)
{
    char field[POLICY_FIELD_MAX];
    uint64_t msr;
    int rc = policy_field_list(arr, "forbidden_msrs", POLICY_MAX_MSRS, "MSR indices", err, errlen);

    for (size_t i = 0; !rc && i < json_array_size(arr); i++) {
        snprintf(field, sizeof field, "forbidden_msrs[%zu]", i);
        if ((rc = policy_field_uint(json_array_get(arr, i), field, UINT32_MAX, &msr, err, errlen)))
            return rc;
        pp->msrs[i] = (uint32_t)msr;
    }
    if (rc)
        return rc;
    uint32_t n = (uint32_t)json_array_size(arr);
    uint32_t windows = policy_msr_windows(pp->msrs, n, NULL, 0);
    if (windows > POLICY_MSR_WINDOWS) {
        char msg[192];
        snprintf(msg, sizeof msg,
                 "these %u MSRs are spread over %u runs of 0x%x indices; KVM's MSR filter "
                 "traps at most %u such runs",
                 n, windows, POLICY_MSR_WINDOW_SPAN, POLICY_MSR_WINDOWS);
        return policy_field_fail(err, errlen, "forbidden_msrs", msg);
    }
    pp->nmsrs = n;
    return 0;
}

/* Applies obj to the copies (p only for its fixed reserved ports); touches nothing shared. */
static int apply_all(const struct policy *p, const json_t *obj, unsigned char *actions,
                     struct policy_params *pp, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    int rc = 0;

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "policy: expected a JSON object");
        return -EINVAL;
    }
    json_object_foreach(policy_json_mut(obj), key, v)
    {
        if (!strcmp(key, "events"))
            rc = apply_events(v, actions, err, errlen);
        else if (!strcmp(key, "watchdog_ms"))
            rc = policy_field_period(v, key, "ms", POLICY_WATCHDOG_MIN_MS, POLICY_WATCHDOG_MAX_MS,
                                     &pp->watchdog_ms, err, errlen);
        else if (!strcmp(key, "preboot_prompt_seconds"))
            rc = policy_field_period(v, key, "s", 1, POLICY_PROMPT_MAX_S,
                                     &pp->preboot_prompt_seconds, err, errlen);
        else if (!strcmp(key, "protected"))
            rc = apply_protected(v, pp, err, errlen);
        else if (!strcmp(key, "forbidden_ports"))
            rc = apply_ports(p, v, pp, err, errlen);
        else if (!strcmp(key, "forbidden_msrs"))
            rc = apply_msrs(v, pp, err, errlen);
        else
            rc = policy_field_fail(
                err, errlen, key,
                "unknown field (known: events, watchdog_ms, protected, forbidden_ports, "
                "forbidden_msrs, preboot_prompt_seconds)");
        if (rc)
            return rc;
    }
    return 0;
}

/* The table obj would make of p's current one; the caller holds p->lock. */
static int draft_locked(struct policy *p, const json_t *obj, struct policy_draft *d, char *err,
                        size_t errlen)
{
    for (int i = 0; i < POLICY_EV_COUNT; i++)
        d->actions[i] = atomic_load_explicit(&p->actions[i], memory_order_relaxed);
    d->params = p->params;
    return apply_all(p, obj, d->actions, &d->params, err, errlen);
}

int policy_apply_json(struct policy *p, const json_t *obj, char *err, size_t errlen)
{
    struct policy_draft d;
    pthread_mutex_lock(&p->lock);
    int rc = draft_locked(p, obj, &d, err, errlen);
    if (!rc)
        policy_commit_locked(p, d.actions, &d.params);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int policy_draft_json(struct policy *p, const json_t *obj, struct policy_draft *d, char *err,
                      size_t errlen)
{
    pthread_mutex_lock(&p->lock);
    int rc = draft_locked(p, obj, d, err, errlen);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void policy_commit_draft(struct policy *p, const struct policy_draft *d)
{
    pthread_mutex_lock(&p->lock);
    policy_commit_locked(p, d->actions, &d->params);
    pthread_mutex_unlock(&p->lock);
}

int policy_load_file(struct policy *p, const char *path, char *err, size_t errlen)
{
    char inner[256];
    json_error_t jerr;
    FILE *f = fopen(path, "r");

    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!j) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return -EINVAL;
    }
    int rc = policy_apply_json(p, j, inner, sizeof inner);
    if (rc)
        snprintf(err, errlen, "%s: %s", path, inner);
    json_decref(j);
    return rc;
}

static json_t *hex(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return json_string(buf);
}

json_t *policy_to_json(struct policy *p)
{
    struct policy_params pp;
    json_t *events = json_object(), *prot = json_array(), *ports = json_array(),
           *msrs = json_array();
    int bad = !events || !prot || !ports || !msrs;

    pthread_mutex_lock(&p->lock);
    pp = p->params;
    for (int i = 0; !bad && i < POLICY_EV_COUNT; i++)
        bad |= json_object_set_new(events, policy_event_name((enum policy_event)i),
                                   json_string(policy_action_name(policy_action_for(p, i))));
    pthread_mutex_unlock(&p->lock);
    for (uint32_t i = 0; !bad && i < pp.nprotected; i++)
        bad |= json_array_append_new(prot,
                                     json_pack("{s:o, s:I}", "gpa", hex(pp.protected_ranges[i].gpa),
                                               "len", (json_int_t)pp.protected_ranges[i].len));
    for (uint32_t i = 0; !bad && i < pp.nports; i++)
        bad |= json_array_append_new(ports, json_pack("{s:o, s:o}", "first", hex(pp.ports[i].first),
                                                      "last", hex(pp.ports[i].last)));
    for (uint32_t i = 0; !bad && i < pp.nmsrs; i++)
        bad |= json_array_append_new(msrs, hex(pp.msrs[i]));
    if (bad) {
        json_decref(events);
        json_decref(prot);
        json_decref(ports);
        json_decref(msrs);
        return NULL;
    }
    return json_pack("{s:o, s:I, s:I, s:o, s:o, s:o}", "events", events, "watchdog_ms",
                     (json_int_t)pp.watchdog_ms, "preboot_prompt_seconds",
                     (json_int_t)pp.preboot_prompt_seconds, "protected", prot, "forbidden_ports",
                     ports, "forbidden_msrs", msrs);
}
