/* res_util.c: helpers shared by the resource handlers: collections, hv errors. */
#include "hvlink.h"
#include "jsonutil.h"
#include "resources.h"

#include <stdlib.h>
#include <string.h>

json_t *collection(const char *path, const char *type, const char *name, json_t *members)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:o}", "@odata.id", path, "@odata.type", type, "Name",
                     name, "Members@odata.count", (json_int_t)json_array_size(members), "Members",
                     members);
}

void hv_error(struct resp *r, json_t *reply)
{
    const char *code = hv_code(reply), *err = json_string_value(json_object_get(reply, "error"));
    if (!err)
        err = "hv gave no reason";
    if (!strcmp(code, "ENOENT"))
        resp_error(r, 404, "ResourceNotFound", "%s", err);
    else if (!strcmp(code, "EBUSY"))
        resp_error(r, 409, "ResourceInUse", "%s", err);
    else if (!strcmp(code, "EINVAL"))
        resp_error(r, 400, "ActionParameterValueError", "%s", err);
    else if (!strcmp(code, "ENOSYS"))
        resp_error(r, 501, "ActionNotSupported", "hv does not offer this yet: %s", err);
    else if (!strcmp(code, "ELINK"))
        resp_error(r, 503, "ServiceTemporarilyUnavailable", "hv is unreachable: %s", err);
    else
        resp_error(r, 500, "GeneralError", "hv: %s", err);
}

json_t *hv_get(struct resp *r, json_t *req)
{
    json_t *reply = hv_simple(req);
    if (hv_ok(reply))
        return reply;
    hv_error(r, reply);
    json_decref(reply);
    return NULL;
}

int if_match_ok(struct req *q, const json_t *current)
{
    const char *im = req_header(q, "If-Match");
    if (!im || !strcmp(im, "*"))
        return 1;
    char *text = json_dumps(current, JSON_COMPACT), etag[24];
    json_etag(text, strlen(text), etag);
    free(text);
    if (!strncmp(im, "W/", 2))
        im += 2;
    return strstr(im, etag) != NULL;
}
