/* subs.c: the push subscriptions' list: one bounded JSON record in hv's NV store, the checks of
 * POST and PATCH bodies, and the EventDestination resource each is shown as. */
#include "subs.h"
#include "nv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sub subs[SUBS_MAX];
struct subs_settings subs_cfg = {3, 30};
static unsigned next_id = 1;
static int loaded;

/* The prefixes the EventService offers (res_events.c's RegistryPrefixes). */
static const char *const known_prefixes[] = {"Vigil", "TaskEvent", "Base"};

static int fail(struct subs_err *e, int status, const char *msgid, const char *pointer,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(struct subs_err *e, int status, const char *msgid, const char *pointer,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->status = status, e->msgid = msgid;
    snprintf(e->pointer, sizeof e->pointer, "%s", pointer);
    return -1;
}

int subs_loaded(void)
{
    return loaded;
}

static void take_prefixes(struct sub *s, json_t *arr)
{
    size_t i;
    json_t *v;
    s->nprefixes = 0;
    json_array_foreach(arr, i, v) if (json_is_string(v) && s->nprefixes < SUBS_PREFIXES &&
                                      strlen(json_string_value(v)) < sizeof s->prefixes[0])
        snprintf(s->prefixes[s->nprefixes++], sizeof s->prefixes[0], "%s", json_string_value(v));
}

int subs_load(void)
{
    uint8_t *data = NULL;
    size_t len;
    int rc = nv_get(SUBS_NV, &data, &len);
    if (rc < 0)
        return -1;
    loaded = 1;
    if (rc > 0)
        return 0; /* none yet */
    json_error_t je;
    json_t *j = json_loadb((const char *)data, len, 0, &je), *v;
    free(data);
    if (!json_is_object(j)) {
        fprintf(stderr, "mgmt-agent: NV record %s is not JSON (%s): starting without it\n", SUBS_NV,
                je.text);
        json_decref(j);
        return 0;
    }
    json_int_t n = json_integer_value(json_object_get(j, "next_id"));
    json_int_t ra = json_integer_value(json_object_get(j, "retry_attempts"));
    json_int_t ri = json_integer_value(json_object_get(j, "retry_interval"));
    next_id = n > 0 && n < 1000000000 ? (unsigned)n : 1;
    if (ra >= 0 && ra <= 100)
        subs_cfg.retry_attempts = (unsigned)ra;
    if (ri >= 1 && ri <= 86400)
        subs_cfg.retry_interval_s = (unsigned)ri;
    size_t i, k = 0;
    json_array_foreach(json_object_get(j, "subs"), i, v)
    {
        const char *dest = json_string_value(json_object_get(v, "dest"));
        const char *ctx = json_string_value(json_object_get(v, "context"));
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        if (k == SUBS_MAX || !dest || strlen(dest) > SUBS_DEST_MAX || id <= 0 || id >= 1000000000 ||
            (ctx && strlen(ctx) > SUBS_CONTEXT_MAX))
            continue; /* not what we write: leave it out rather than guess */
        struct sub *s = &subs[k++];
        s->used = 1, s->id = (unsigned)id;
        snprintf(s->dest, sizeof s->dest, "%s", dest);
        snprintf(s->context, sizeof s->context, "%s", ctx ? ctx : "");
        take_prefixes(s, json_object_get(v, "prefixes"));
        s->suspended = json_is_true(json_object_get(v, "suspended"));
        if (s->id >= next_id)
            next_id = s->id + 1;
    }
    json_decref(j);
    return 0;
}

int subs_save(void)
{
    json_t *list = json_array();
    for (int i = 0; i < SUBS_MAX; i++) {
        struct sub *s = &subs[i];
        if (!s->used)
            continue;
        json_t *p = json_array();
        for (int k = 0; k < s->nprefixes; k++)
            json_array_append_new(p, json_string(s->prefixes[k]));
        json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:o, s:b}", "id", (int)s->id, "dest",
                                              s->dest, "context", s->context, "prefixes", p,
                                              "suspended", s->suspended));
    }
    json_t *j = json_pack("{s:i, s:i, s:i, s:o}", "next_id", (int)next_id, "retry_attempts",
                          (int)subs_cfg.retry_attempts, "retry_interval",
                          (int)subs_cfg.retry_interval_s, "subs", list);
    return nv_put_json(SUBS_NV, j);
}

struct sub *subs_find(const char *id)
{
    char *end;
    unsigned long n = strtoul(id, &end, 10);
    if (!*id || *end || id[0] == '0')
        return NULL;
    for (int i = 0; i < SUBS_MAX; i++)
        if (subs[i].used && subs[i].id == n)
            return &subs[i];
    return NULL;
}

json_t *subs_json(const struct sub *s)
{
    char path[96], id[16];
    snprintf(id, sizeof id, "%u", s->id);
    snprintf(path, sizeof path, SUBS_PATH "/%u", s->id);
    json_t *p = json_array();
    for (int k = 0; k < s->nprefixes; k++)
        json_array_append_new(p, json_string(s->prefixes[k]));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:{s:s, s:s}}", "@odata.id", path,
        "@odata.type", "#EventDestination.v1_13_0.EventDestination", "Id", id, "Name",
        "Event subscription", "Destination", s->dest, "Context", s->context, "Protocol", "Redfish",
        "EventFormatType", "Event", "SubscriptionType", "RedfishEvent", "RegistryPrefixes", p,
        "DeliveryRetryPolicy", "SuspendRetries", "Status", "State",
        s->suspended ? "Disabled" : "Enabled", "Health", s->suspended ? "Warning" : "OK");
    if (o)
        json_object_set_new(o, "Oem",
                            json_pack("{s:{s:i, s:I, s:I, s:i, s:s?}}", "Vigil", "PendingEvents",
                                      (int)s->qlen, "DeliveredEvents", (json_int_t)s->delivered,
                                      "DroppedEvents", (json_int_t)s->dropped, "FailedAttempts",
                                      (int)s->attempts, "LastError",
                                      s->last_error[0] ? s->last_error : NULL));
    return o;
}

int subs_wants(const struct sub *s, const char *message_id)
{
    if (!s->nprefixes)
        return 1;
    size_t n = strcspn(message_id, ".");
    for (int k = 0; k < s->nprefixes; k++)
        if (strlen(s->prefixes[k]) == n && !strncmp(s->prefixes[k], message_id, n))
            return 1;
    return 0;
}

/* A string property that must be exactly `want` when given. */
static int fixed(json_t *body, const char *key, const char *want, struct subs_err *e)
{
    json_t *v = json_object_get(body, key);
    char ptr[64];
    snprintf(ptr, sizeof ptr, "#/%s", key);
    if (v && !json_is_string(v))
        return fail(e, 400, "PropertyValueTypeError", ptr, "%s must be a string", key);
    if (v && strcmp(json_string_value(v), want))
        return fail(e, 400, "PropertyValueNotInList", ptr, "%s must be \"%s\", not \"%.60s\"", key,
                    want, json_string_value(v));
    return 0;
}

static int check_context(json_t *v, struct subs_err *e)
{
    if (!json_is_string(v))
        return fail(e, 400, "PropertyValueTypeError", "#/Context", "Context must be a string");
    if (strlen(json_string_value(v)) > SUBS_CONTEXT_MAX)
        return fail(e, 400, "StringValueTooLong", "#/Context",
                    "Context is %zu characters long; at most %d are kept",
                    strlen(json_string_value(v)), SUBS_CONTEXT_MAX);
    return 0;
}

int subs_create(json_t *body, struct sub **out, struct subs_err *e)
{
    static const char *const keys[] = {"Destination",        "Context",  "EventFormatType",
                                       "RegistryPrefixes",   "Protocol", "SubscriptionType",
                                       "DeliveryRetryPolicy"};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(keys[k], key))
            k++;
        if (k == sizeof keys / sizeof keys[0]) {
            char ptr[64];
            snprintf(ptr, sizeof ptr, "#/%.60s", key);
            return fail(e, 400, "PropertyUnknown", ptr,
                        "the property %.60s is not known to subscriptions", key);
        }
    }
    json_t *dest = json_object_get(body, "Destination"), *ctx = json_object_get(body, "Context");
    json_t *pre = json_object_get(body, "RegistryPrefixes");
    struct up_target t;
    char why[160];
    if (!dest)
        return fail(e, 400, "PropertyMissing", "#/Destination", "Destination is required");
    if (!json_is_string(dest))
        return fail(e, 400, "PropertyValueTypeError", "#/Destination",
                    "Destination must be a string");
    if (strlen(json_string_value(dest)) > SUBS_DEST_MAX)
        return fail(e, 400, "StringValueTooLong", "#/Destination",
                    "Destination is longer than %d characters", SUBS_DEST_MAX);
    if (up_url_parse(json_string_value(dest), "", &t, why, sizeof why))
        return fail(e, 400, "PropertyValueFormatError", "#/Destination",
                    "Destination must be an https:// URL: %s", why);
    if ((ctx && check_context(ctx, e)) || fixed(body, "EventFormatType", "Event", e) ||
        fixed(body, "Protocol", "Redfish", e) ||
        fixed(body, "SubscriptionType", "RedfishEvent", e) ||
        fixed(body, "DeliveryRetryPolicy", "SuspendRetries", e))
        return -1;
    if (pre && (!json_is_array(pre) || json_array_size(pre) > SUBS_PREFIXES))
        return fail(e, 400, "PropertyValueTypeError", "#/RegistryPrefixes",
                    "RegistryPrefixes must be an array of at most %d registry prefixes",
                    SUBS_PREFIXES);
    size_t i;
    json_array_foreach(pre, i, v)
    {
        size_t k = 0;
        while (k < 3 && !(json_is_string(v) && !strcmp(json_string_value(v), known_prefixes[k])))
            k++;
        if (k == 3)
            return fail(e, 400, "PropertyValueNotInList", "#/RegistryPrefixes",
                        "RegistryPrefixes may hold Vigil, TaskEvent and Base only");
    }
    struct sub *s = NULL;
    for (int k = 0; k < SUBS_MAX && !s; k++)
        if (!subs[k].used)
            s = &subs[k];
    if (!s)
        return fail(e, 400, "CreateLimitReachedForResource", "#/Destination",
                    "there are %d subscriptions already, the most this service keeps", SUBS_MAX);
    memset(s, 0, sizeof *s);
    s->used = 1, s->id = next_id++;
    snprintf(s->dest, sizeof s->dest, "%s", json_string_value(dest));
    snprintf(s->context, sizeof s->context, "%s", ctx ? json_string_value(ctx) : "");
    take_prefixes(s, pre);
    *out = s;
    return 0;
}

int subs_patch(struct sub *s, json_t *body, int *resumed, struct subs_err *e)
{
    const char *key;
    json_t *v, *ctx = json_object_get(body, "Context");
    json_t *state = json_object_get(json_object_get(body, "Status"), "State");
    json_object_foreach(body, key, v)
    {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "#/%.60s", key);
        if (!strcmp(key, "Status") && json_is_object(v) && json_object_size(v) == 1 && state)
            continue;
        if (strcmp(key, "Context"))
            return fail(e, 400, "PropertyNotWritable", ptr,
                        "only Context and Status/State can be changed; %.60s cannot", key);
    }
    if (ctx && check_context(ctx, e))
        return -1;
    if (state && (!json_is_string(state) || (strcmp(json_string_value(state), "Enabled") &&
                                             strcmp(json_string_value(state), "Disabled"))))
        return fail(e, 400, "PropertyValueNotInList", "#/Status/State",
                    "Status/State must be Enabled (resume) or Disabled (suspend)");
    if (ctx)
        snprintf(s->context, sizeof s->context, "%s", json_string_value(ctx));
    *resumed = 0;
    if (state) {
        int off = !strcmp(json_string_value(state), "Disabled");
        *resumed = s->suspended && !off;
        s->suspended = off;
    }
    return 0;
}

int subs_settings_patch(json_t *body, struct subs_err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        char ptr[64];
        snprintf(ptr, sizeof ptr, "#/%.60s", key);
        int attempts = !strcmp(key, "DeliveryRetryAttempts");
        json_int_t lo = attempts ? 0 : 1, hi = attempts ? 100 : 86400;
        if (!attempts && strcmp(key, "DeliveryRetryIntervalSeconds"))
            return fail(e, 400, "PropertyNotWritable", ptr,
                        "only DeliveryRetryAttempts and DeliveryRetryIntervalSeconds can be "
                        "changed; %.60s cannot",
                        key);
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
            return fail(e, 400, "PropertyValueOutOfRange", ptr,
                        "%s must be an integer from %lld to %lld", key, (long long)lo,
                        (long long)hi);
    }
    json_object_foreach(body, key, v)
    {
        if (!strcmp(key, "DeliveryRetryAttempts"))
            subs_cfg.retry_attempts = (unsigned)json_integer_value(v);
        else
            subs_cfg.retry_interval_s = (unsigned)json_integer_value(v);
    }
    return 0;
}
