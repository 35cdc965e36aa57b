/* res_upload.c: the crash-report uploader's settings and state as a Redfish OEM resource
 * (Administrator only: it names where guest memory goes). */
#include "resources.h"
#include "upload.h"

#include <string.h>

#define PATH "/redfish/v1/Managers/service/Oem/Vigil/CrashUpload"

static json_t *current(void)
{
    json_t *j = upload_config_json(upload_config());
    json_object_set_new(j, "@odata.id", json_string(PATH));
    json_object_set_new(j, "@odata.type", json_string("#VigilCrashUpload.v1_0_0.VigilCrashUpload"));
    json_object_set_new(j, "Id", json_string("CrashUpload"));
    json_object_set_new(j, "Name", json_string("Crash report upload"));
    json_object_set_new(j, "Status", upload_status_json());
    return j;
}

void h_crash_upload(struct req *q, struct resp *r)
{
    if (q->method == M_PATCH) {
        json_t *cur = current();
        int ok = if_match_ok(q, cur);
        json_decref(cur);
        if (!ok)
            return resp_error(r, 412, "PreconditionFailed", "If-Match names another version");
        if (!q->json)
            return resp_error(r, 400, "MalformedJSON", "PATCH needs a JSON body");
        const char *id = "GeneralError";
        char err[200];
        if (upload_config_patch(upload_config(), q->json, &id, err, sizeof err))
            return resp_error(r, 400, id, "%s", err);
        if (upload_config_save(upload_config()))
            return resp_error(r, 503, "ServiceTemporarilyUnavailable",
                              "the settings could not be stored in hv's NV store");
        upload_reconfigure();
    }
    resp_json(r, 200, current());
}
