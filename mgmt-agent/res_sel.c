/* res_sel.c: the SEL as a Redfish event log: entries with paging ($skip/$top), ClearLog. */
#include "hvlink.h"
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRIES  "/redfish/v1/Managers/hv/LogServices/SEL/Entries"
#define PAGE     50
#define PAGE_MAX 1000

static json_t *entry_json(json_t *e)
{
    char path[160];
    snprintf(path, sizeof path, ENTRIES "/%s", json_string_value(json_object_get(e, "Id")));
    json_t *out = json_deep_copy(e);
    json_object_set_new(out, "@odata.id", json_string(path));
    json_object_set_new(out, "@odata.type", json_string("#LogEntry.v1_15_0.LogEntry"));
    return out;
}

static int hv_only(struct req *q, struct resp *r)
{
    if (!strcmp(ARG(q, 1), "hv"))
        return 1;
    resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
    return 0;
}

/* A non-negative decimal query parameter, or def when absent; -1 when malformed. */
static long param(struct req *q, const char *name, long def, long max)
{
    const char *v = req_arg(q, name);
    if (!v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n >= 0 && n <= max ? n : -1;
}

void h_sel_entries(struct req *q, struct resp *r)
{
    if (!hv_only(q, r))
        return;
    long skip = param(q, "$skip", 0, 1L << 40), top = param(q, "$top", PAGE, PAGE_MAX);
    if (skip < 0 || top < 0)
        return resp_error(r, 400, "QueryParameterValueFormatError",
                          "$skip must be >= 0 and $top 0..%d", PAGE_MAX);
    /* hv numbers entries consecutively; the log holds first_id..last_id. */
    json_t *head = hv_get(r, json_pack("{s:s, s:i}", "op", "sel", "max", 1));
    if (!head)
        return;
    json_int_t first = json_integer_value(json_object_get(head, "first_id"));
    json_int_t last = json_integer_value(json_object_get(head, "last_id"));
    json_decref(head);
    json_int_t total = first > 0 && last >= first ? last - first + 1 : 0;
    json_t *m = json_array();
    if (top > 0 && skip < total) {
        json_t *rep = hv_get(r, json_pack("{s:s, s:I, s:i}", "op", "sel", "after", first - 1 + skip,
                                          "max", (int)top));
        if (!rep)
            return json_decref(m);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(rep, "entries"), i, e)
            json_array_append_new(m, entry_json(e));
        json_decref(rep);
    }
    json_t *c = collection(ENTRIES, "#LogEntryCollection.LogEntryCollection", "SEL Entries", m);
    json_object_set_new(c, "Members@odata.count", json_integer(total));
    if (skip + top < total) {
        char next[200];
        snprintf(next, sizeof next, ENTRIES "?$skip=%ld&$top=%ld", skip + top, top);
        json_object_set_new(c, "Members@odata.nextLink", json_string(next));
    }
    resp_json(r, 200, c);
}

void h_sel_entry(struct req *q, struct resp *r)
{
    if (!hv_only(q, r))
        return;
    char *end;
    long id = strtol(ARG(q, 5), &end, 10);
    if (*end || id < 1)
        return resp_error(r, 404, "ResourceNotFound", "no SEL entry %s", ARG(q, 5));
    json_t *rep =
        hv_get(r, json_pack("{s:s, s:I, s:i}", "op", "sel", "after", (json_int_t)id - 1, "max", 1));
    if (!rep)
        return;
    json_t *e = json_array_get(json_object_get(rep, "entries"), 0);
    if (e && !strcmp(json_string_value(json_object_get(e, "Id")), ARG(q, 5)))
        resp_json(r, 200, entry_json(e));
    else
        resp_error(r, 404, "ResourceNotFound", "no SEL entry %s", ARG(q, 5));
    json_decref(rep);
}

void h_sel_clear(struct req *q, struct resp *r)
{
    if (!hv_only(q, r))
        return;
    json_t *rep = hv_get(r, json_pack("{s:s}", "op", "sel.clear"));
    if (rep)
        r->status = 204;
    json_decref(rep);
}
