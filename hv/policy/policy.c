/* policy.c: the trap policy table: names, defaults, refused pairs, lock-free lookups. */
#include "policy/policy.h"
#include "policy/policy_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const event_names[POLICY_EV_COUNT] = {
    [POLICY_EV_WRITE_PROTECTED] = "write_protected",
    [POLICY_EV_TRIPLE_FAULT] = "triple_fault",
    [POLICY_EV_PVPANIC] = "pvpanic",
    [POLICY_EV_GUEST_PANIC] = "guest_panic",
    [POLICY_EV_INTERNAL_ERROR] = "internal_error",
    [POLICY_EV_FORBIDDEN_PORT] = "forbidden_port",
    [POLICY_EV_FORBIDDEN_MSR] = "forbidden_msr",
    [POLICY_EV_WATCHDOG_HEARTBEAT] = "watchdog_heartbeat",
    [POLICY_EV_WATCHDOG_PROGRESS] = "watchdog_progress",
    [POLICY_EV_HALTED_IRQS_OFF] = "halted_irqs_off",
    [POLICY_EV_OPERATOR] = "operator",
};

static const char *const action_names[POLICY_ACT_COUNT] = {
    [POLICY_ACT_LOG] = "log",     [POLICY_ACT_FREEZE] = "freeze", [POLICY_ACT_NOTIFY] = "notify",
    [POLICY_ACT_RESET] = "reset", [POLICY_ACT_NMI] = "nmi",       [POLICY_ACT_RESUME] = "resume",
};

/* See policy_init_defaults in policy.h for the reasons. */
static const unsigned char default_actions[POLICY_EV_COUNT] = {
    [POLICY_EV_WRITE_PROTECTED] = POLICY_ACT_FREEZE,
    [POLICY_EV_TRIPLE_FAULT] = POLICY_ACT_FREEZE,
    [POLICY_EV_PVPANIC] = POLICY_ACT_FREEZE,
    [POLICY_EV_GUEST_PANIC] = POLICY_ACT_FREEZE,
    [POLICY_EV_INTERNAL_ERROR] = POLICY_ACT_FREEZE,
    [POLICY_EV_FORBIDDEN_PORT] = POLICY_ACT_LOG,
    [POLICY_EV_FORBIDDEN_MSR] = POLICY_ACT_LOG,
    [POLICY_EV_WATCHDOG_HEARTBEAT] = POLICY_ACT_FREEZE,
    [POLICY_EV_WATCHDOG_PROGRESS] = POLICY_ACT_FREEZE,
    [POLICY_EV_HALTED_IRQS_OFF] = POLICY_ACT_FREEZE,
    [POLICY_EV_OPERATOR] = POLICY_ACT_FREEZE,
};

void policy_init_defaults(struct policy *p, const struct policy_port_owner *reserved,
                          uint32_t nreserved)
{
    memset(&p->params, 0, sizeof p->params);
    p->reserved = reserved;
    p->nreserved = nreserved;
    pthread_mutex_init(&p->lock, NULL);
    for (int i = 0; i < POLICY_EV_COUNT; i++)
        atomic_init(&p->actions[i], default_actions[i]);
    atomic_init(&p->generation, 0);
}

void policy_destroy(struct policy *p)
{
    pthread_mutex_destroy(&p->lock);
}

const char *policy_event_name(enum policy_event ev)
{
    return (unsigned)ev < POLICY_EV_COUNT ? event_names[ev] : "?";
}

const char *policy_action_name(enum policy_action act)
{
    return (unsigned)act < POLICY_ACT_COUNT ? action_names[act] : "?";
}

int policy_event_from_name(const char *name)
{
    for (int i = 0; name && i < POLICY_EV_COUNT; i++)
        if (!strcmp(name, event_names[i]))
            return i;
    return -1;
}

int policy_action_from_name(const char *name)
{
    for (int i = 0; name && i < POLICY_ACT_COUNT; i++)
        if (!strcmp(name, action_names[i]))
            return i;
    return -1;
}

bool policy_action_allowed(enum policy_event ev, enum policy_action act, const char **why)
{
    const char *reason = NULL;
    bool cannot_run = ev == POLICY_EV_TRIPLE_FAULT || ev == POLICY_EV_INTERNAL_ERROR;

    if ((unsigned)ev >= POLICY_EV_COUNT || (unsigned)act >= POLICY_ACT_COUNT)
        reason = "no such event or action";
    else if (cannot_run && (act == POLICY_ACT_RESUME || act == POLICY_ACT_NMI))
        reason = ev == POLICY_EV_TRIPLE_FAULT
                     ? "a triple-faulted vCPU is shut down and cannot run again; use log, "
                       "notify, freeze or reset"
                     : "KVM cannot run past an internal error; use log, notify, freeze or reset";
    if (why)
        *why = reason;
    return reason == NULL;
}

enum policy_action policy_action_for(const struct policy *p, enum policy_event ev)
{
    if ((unsigned)ev >= POLICY_EV_COUNT)
        return POLICY_ACT_FREEZE; /* an event hv does not know: keep the evidence */
    return (enum policy_action)atomic_load_explicit(&p->actions[ev], memory_order_acquire);
}

void policy_get_params(struct policy *p, struct policy_params *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->params;
    pthread_mutex_unlock(&p->lock);
}

uint64_t policy_generation(const struct policy *p)
{
    return atomic_load(&p->generation);
}

/* Appends "a, b, c" of names to buf. */
static void list_names(char *buf, size_t len, const char *const *names, int n)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

int policy_check_pair(const char *field, const char *event, const char *action, int *ev, int *act,
                      char *err, size_t errlen)
{
    char known[256];
    const char *why;

    *ev = policy_event_from_name(event);
    if (*ev < 0) {
        list_names(known, sizeof known, event_names, POLICY_EV_COUNT);
        snprintf(err, errlen, "\"%s\": unknown event (known: %s)", field, known);
        return -EINVAL;
    }
    *act = policy_action_from_name(action);
    if (*act < 0) {
        list_names(known, sizeof known, action_names, POLICY_ACT_COUNT);
        snprintf(err, errlen, "\"%s\": unknown action \"%s\" (known: %s)", field, action, known);
        return -EINVAL;
    }
    if (!policy_action_allowed(*ev, *act, &why)) {
        snprintf(err, errlen, "\"%s\": action \"%s\" refused: %s", field, action, why);
        return -EINVAL;
    }
    return 0;
}

void policy_commit_locked(struct policy *p, const unsigned char *actions,
                          const struct policy_params *pp)
{
    bool changed = memcmp(&p->params, pp, sizeof *pp) != 0;
    for (int i = 0; i < POLICY_EV_COUNT; i++) {
        if (atomic_load_explicit(&p->actions[i], memory_order_relaxed) != actions[i]) {
            atomic_store_explicit(&p->actions[i], actions[i], memory_order_release);
            changed = true;
        }
    }
    p->params = *pp;
    if (changed)
        atomic_fetch_add(&p->generation, 1);
}

int policy_set(struct policy *p, const char *event, const char *action, char *err, size_t errlen)
{
    int ev, act;
    int rc = policy_check_pair(event ? event : "", event ? event : "", action ? action : "", &ev,
                               &act, err, errlen);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(&p->actions[ev], memory_order_relaxed) != act) {
        atomic_store_explicit(&p->actions[ev], (unsigned char)act, memory_order_release);
        atomic_fetch_add(&p->generation, 1);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Splits "name = value" into trimmed copies; -EINVAL when there is no '=' or a side is empty. */
static int split_assignment(const char *text, char *name, size_t nlen, char *value, size_t vlen,
                            char *err, size_t errlen)
{
    const char *eq = text ? strchr(text, '=') : NULL;
    if (!eq) {
        snprintf(err, errlen, "\"%s\": expected name=value, e.g. triple_fault=log",
                 text ? text : "");
        return -EINVAL;
    }
    const char *a = text, *b = eq, *c = eq + 1, *d = eq + strlen(eq);
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    while (c < d && isspace((unsigned char)*c))
        c++;
    while (d > c && isspace((unsigned char)d[-1]))
        d--;
    if (a == b || c == d || (size_t)(b - a) >= nlen || (size_t)(d - c) >= vlen) {
        snprintf(err, errlen, "\"%s\": expected name=value, e.g. triple_fault=log", text);
        return -EINVAL;
    }
    memcpy(name, a, (size_t)(b - a));
    name[b - a] = 0;
    memcpy(value, c, (size_t)(d - c));
    value[d - c] = 0;
    return 0;
}

int policy_parse_assignment(const char *text, enum policy_event *ev, enum policy_action *act,
                            char *err, size_t errlen)
{
    char name[64], value[64];
    int e, a;
    int rc = split_assignment(text, name, sizeof name, value, sizeof value, err, errlen);
    if (rc)
        return rc;
    rc = policy_check_pair(name, name, value, &e, &a, err, errlen);
    if (rc)
        return rc;
    *ev = (enum policy_event)e;
    *act = (enum policy_action)a;
    return 0;
}

int policy_assign(struct policy *p, const char *text, char *err, size_t errlen)
{
    char name[64], value[64];
    int rc = split_assignment(text, name, sizeof name, value, sizeof value, err, errlen);
    if (rc)
        return rc;
    if (policy_event_from_name(name) >= 0)
        return policy_set(p, name, value, err, errlen);
    if (!strcmp(name, "protected") || !strcmp(name, "forbidden_ports") ||
        !strcmp(name, "forbidden_msrs")) {
        snprintf(err, errlen, "\"%s\": a list; set it in the policy file", name);
        return -EINVAL;
    }
    if (strcmp(name, "watchdog_ms") && strcmp(name, "preboot_prompt_seconds")) {
        char known[256];
        list_names(known, sizeof known, event_names, POLICY_EV_COUNT);
        snprintf(err, errlen,
                 "\"%s\": unknown event (known: %s) or parameter (watchdog_ms, "
                 "preboot_prompt_seconds)",
                 name, known);
        return -EINVAL;
    }
    /* A number parses as a JSON number (so "0.5" reaches the range check); anything else
     * goes in as a string, which the JSON checks accept in hex or turn down by name. */
    json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
    if (!v || !json_is_number(v)) {
        json_decref(v);
        v = json_string(value);
    }
    json_t *obj = json_object();
    rc = -ENOMEM;
    if (obj && v && !json_object_set(obj, name, v))
        rc = policy_apply_json(p, obj, err, errlen);
    else
        snprintf(err, errlen, "out of memory");
    json_decref(v);
    json_decref(obj);
    return rc;
}

const char *policy_port_reserved(const struct policy *p, uint16_t port)
{
    for (uint32_t i = 0; i < p->nreserved; i++)
        if (port >= p->reserved[i].first && port <= p->reserved[i].last)
            return p->reserved[i].owner;
    return NULL;
}

bool policy_port_forbidden(const struct policy_params *pp, uint16_t port)
{
    for (uint32_t i = 0; i < pp->nports; i++)
        if (port >= pp->ports[i].first && port <= pp->ports[i].last)
            return true;
    return false;
}

bool policy_msr_forbidden(const struct policy_params *pp, uint32_t msr)
{
    for (uint32_t i = 0; i < pp->nmsrs; i++)
        if (pp->msrs[i] == msr)
            return true;
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

uint32_t policy_msr_windows(const uint32_t *msrs, uint32_t n, struct policy_msr_window *out,
                            uint32_t max)
{
    uint32_t sorted[POLICY_MAX_MSRS], count = 0;
    if (n > POLICY_MAX_MSRS)
        n = POLICY_MAX_MSRS;
    memcpy(sorted, msrs, n * sizeof *msrs);
    qsort(sorted, n, sizeof *sorted, cmp_u32);
    /* Greedy from the lowest: each window starts at the first MSR not yet covered and reaches
     * as far as it may, which needs the fewest windows. */
    for (uint32_t i = 0; i < n;) {
        uint32_t base = sorted[i], last = base;
        while (i < n && sorted[i] - base < POLICY_MSR_WINDOW_SPAN)
            last = sorted[i++];
        if (count < max)
            out[count] = (struct policy_msr_window){base, last - base + 1};
        count++;
    }
    return count;
}

bool policy_gpa_protected(const struct policy_params *pp, uint64_t gpa, uint64_t len)
{
    if (!len)
        return false;
    uint64_t last = gpa + len - 1 < gpa ? UINT64_MAX : gpa + len - 1;
    for (uint32_t i = 0; i < pp->nprotected; i++) {
        const struct policy_range *r = &pp->protected_ranges[i];
        if (gpa <= r->gpa + r->len - 1 && last >= r->gpa)
            return true;
    }
    return false;
}
