/* res_policy.c: the trap policy as an OEM resource, /redfish/v1/Managers/hv/Oem/Vigil/Policy:
 * GET shows hv's policy (docs/policy.md) with a strong ETag; PATCH needs If-Match (428 without,
 * 412 when stale) and maps hv's refusal, which names the field, to a Base registry message with
 * RelatedProperties. */
#include "hvlink.h"
#include "oem.h"
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_URI "/redfish/v1/Managers/hv/Oem/Vigil/Policy"

/* hv's top-level policy keys and their Redfish (PascalCase) names; inner keys (event names,
 * gpa/len, first/last) are hv's own. */
static const char *const names[][2] = {
    {"events", "Events"},
    {"watchdog_ms", "WatchdogMs"},
    {"preboot_prompt_seconds", "PrebootPromptSeconds"},
    {"protected", "ProtectedRanges"},
    {"forbidden_ports", "ForbiddenPorts"},
    {"forbidden_msrs", "ForbiddenMsrs"},
};
#define NNAMES (sizeof names / sizeof names[0])

void resp_related(struct resp *r, const char *pointer)
{
    json_t *info = json_array_get(
        json_object_get(json_object_get(r->body, "error"), "@Message.ExtendedInfo"), 0);
    if (info)
        json_object_set_new(info, "RelatedProperties", json_pack("[s]", pointer));
}

static json_t *resource(const json_t *policy)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "@odata.id", POLICY_URI, "@odata.type",
                          "#VigilPolicy.v1_0_0.VigilPolicy", "Id", "Policy", "Name", "Trap policy",
                          "Description",
                          "What hv does about each guest event, and the traps' parameters "
                          "(docs/policy.md)");
    for (size_t i = 0; i < NNAMES; i++) {
        json_t *v = json_object_get(policy, names[i][0]);
        if (v)
            json_object_set(o, names[i][1], v);
    }
    return o;
}

/* The resource as GET serves it now, or NULL with r holding hv's error. */
static json_t *current(struct resp *r)
{
    json_t *rep = hv_get(r, json_pack("{s:s}", "op", "policy.get"));
    json_t *o = rep ? resource(json_object_get(rep, "policy")) : NULL;
    json_decref(rep);
    return o;
}

/* The ETag GET sends for o: the same serialization http.c's send_resp hashes. */
static void etag_of(const json_t *o, char out[24])
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_etag(text, strlen(text), out);
    free(text);
}

/* If-Match: "*" or a list of strong tags, one of them ours (a weak tag never matches). */
static int matches(const char *header, const char *etag)
{
    size_t n = strlen(etag);
    for (const char *p = header; *p;) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return 1;
        if (!strncmp(p, etag, n) && (p[n] == 0 || strchr(" \t,", p[n])))
            return 1;
        p += strcspn(p, ",");
    }
    return 0;
}

/* hv's "field.path[i].x": message -> a Base message naming the property as a JSON pointer. */
static void refused(struct resp *r, const char *err)
{
    char field[128] = "", ptr[192] = "#/";
    const char *msg = err;
    if (err[0] == '"') {
        const char *end = strchr(err + 1, '"');
        size_t n = end ? (size_t)(end - err - 1) : 0;
        if (n && n < sizeof field) {
            memcpy(field, err + 1, n);
            field[n] = 0;
            msg = end + 1 + strspn(end + 1, ": ");
        }
    }
    size_t head = strcspn(field, ".[");
    const char *top = NULL;
    for (size_t i = 0; i < NNAMES; i++)
        if (strlen(names[i][0]) == head && !strncmp(field, names[i][0], head))
            top = names[i][1];
    size_t o = strlen(ptr);
    o += (size_t)snprintf(ptr + o, sizeof ptr - o, "%.*s", top ? 64 : (int)head, top ? top : field);
    for (const char *p = field + head; *p && o + 2 < sizeof ptr; p++)
        if (*p == '.' || *p == '[')
            ptr[o++] = '/';
        else if (*p != ']')
            ptr[o++] = *p;
    ptr[o] = 0;
    const char *id =
        strstr(msg, "unknown field") || strstr(msg, "unknown event") ? "PropertyUnknown"
        : strstr(msg, "unknown action") || strstr(msg, "refused")    ? "PropertyValueNotInList"
                                                                     : "PropertyValueFormatError";
    resp_error(r, 400, id, "%s: %s", ptr + 2, msg);
    resp_related(r, ptr);
}

static void patch(struct req *q, struct resp *r)
{
    const char *im = req_header(q, "If-Match");
    if (!im)
        return resp_error(r, 428, "PreconditionRequired",
                          "a PATCH of the policy needs If-Match with the ETag of a GET: "
                          "changes made meanwhile are not overwritten unseen");
    if (!json_is_object(q->json))
        return resp_error(r, 400, "MalformedJSON", "the body must be a JSON object");
    json_t *now = current(r);
    if (!now)
        return;
    char etag[24];
    etag_of(now, etag);
    json_decref(now);
    if (!matches(im, etag))
        return resp_error(r, 412, "PreconditionFailed",
                          "the policy changed since that ETag (it is now %s): GET it again", etag);
    json_t *policy = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(q->json, key, v)
    {
        const char *hv_name = NULL;
        for (size_t i = 0; i < NNAMES; i++)
            if (!strcmp(key, names[i][1]))
                hv_name = names[i][0];
        char ptr[96];
        snprintf(ptr, sizeof ptr, "#/%.64s", key);
        if (!hv_name) {
            int ro = key[0] == '@' || !strcmp(key, "Id") || !strcmp(key, "Name") ||
                     !strcmp(key, "Description");
            resp_error(r, 400, ro ? "PropertyNotWritable" : "PropertyUnknown",
                       ro ? "%.64s is read-only" : "%.64s is not a policy property", key);
            resp_related(r, ptr);
            json_decref(policy);
            return;
        }
        json_object_set(policy, hv_name, v);
    }
    json_t *rep = hv_simple(json_pack("{s:s, s:o}", "op", "policy.set", "policy", policy));
    if (!hv_ok(rep)) {
        const char *err = json_string_value(json_object_get(rep, "error"));
        if (!strcmp(hv_code(rep), "EINVAL") && err)
            refused(r, err);
        else
            hv_error(r, rep);
        json_decref(rep);
        return;
    }
    json_t *o = resource(json_object_get(rep, "policy"));
    etag_of(o, etag); /* what GET now serves, before the Note below */
    resp_header(r, "ETag", etag);
    if (json_is_false(json_object_get(rep, "armed")))
        json_object_set(o, "Note", json_object_get(rep, "note"));
    json_decref(rep);
    resp_json(r, 200, o);
}

void h_policy(struct req *q, struct resp *r)
{
    if (strcmp(ARG(q, 1), "hv"))
        return resp_error(r, 404, "ResourceNotFound", "no policy on manager %s (it is on hv)",
                          ARG(q, 1));
    if (q->method == M_PATCH)
        return patch(q, r);
    json_t *o = current(r);
    if (o)
        resp_json(r, 200, o);
}
