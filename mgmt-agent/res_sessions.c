/* res_sessions.c: SessionService, Sessions: log in (POST), look, log out (DELETE). */
#include "auth.h"
#include "resources.h"
#include "sessions.h"

#include <stdio.h>
#include <string.h>

#define SESSIONS "/redfish/v1/SessionService/Sessions"

static json_t *session_json(const struct session *s)
{
    char path[128];
    snprintf(path, sizeof path, SESSIONS "/%s", s->id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "@odata.id", path, "@odata.type",
                     "#Session.v1_6_0.Session", "Id", s->id, "Name", "User Session", "UserName",
                     s->user);
}

static json_t *service_json(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:o}", "@odata.id",
                     "/redfish/v1/SessionService", "@odata.type",
                     "#SessionService.v1_1_9.SessionService", "Id", "SessionService", "Name",
                     "Session Service", "ServiceEnabled", 1, "SessionTimeout", session_timeout_s,
                     "Sessions", odata_link(SESSIONS));
}

void h_session_service(struct req *q, struct resp *r)
{
    if (q->method == M_PATCH) {
        json_t *cur = service_json();
        int ok = if_match_ok(q, cur);
        json_decref(cur);
        json_t *t = json_object_get(q->json, "SessionTimeout");
        if (!ok)
            return resp_error(r, 412, "PreconditionFailed", "If-Match names another version");
        if (!q->json || json_object_size(q->json) != 1 || !json_is_integer(t))
            return resp_error(r, 400, "PropertyUnknown", "only SessionTimeout can be changed");
        if (json_integer_value(t) < 30 || json_integer_value(t) > 86400)
            return resp_error(r, 400, "PropertyValueOutOfRange",
                              "SessionTimeout must be 30 to 86400 seconds");
        session_timeout_s = (int)json_integer_value(t);
    }
    resp_json(r, 200, service_json());
}

static int may_see(const struct req *q, const struct session *s)
{
    return (q->privs & P_CONF_MANAGER) || !strcmp(s->user, q->user);
}

static void login(struct req *q, struct resp *r)
{
    const char *user = json_string_value(json_object_get(q->json, "UserName"));
    const char *pw = json_string_value(json_object_get(q->json, "Password"));
    if (!user || !pw)
        return resp_error(r, 400, "PropertyMissing",
                          "a login needs the string properties UserName and Password");
    char why[160];
    int role;
    if (auth_password(user, pw, &role, why, sizeof why))
        return resp_error(r, 401, "ResourceAtUriUnauthorized", "%s", why);
    struct session *s = session_open(user, role);
    if (!s)
        return resp_error(r, 503, "SessionLimitExceeded", "all %d sessions are in use",
                          MAX_SESSIONS);
    char loc[128];
    snprintf(loc, sizeof loc, SESSIONS "/%s", s->id);
    resp_header(r, "X-Auth-Token", s->token);
    resp_header(r, "Location", loc);
    resp_json(r, 201, session_json(s));
}

void h_sessions(struct req *q, struct resp *r)
{
    if (q->method == M_POST)
        return login(q, r);
    json_t *m = json_array();
    for (int i = 0; i < session_count(); i++) {
        struct session *s = session_at(i);
        char path[128];
        snprintf(path, sizeof path, SESSIONS "/%s", s->id);
        if (may_see(q, s))
            json_array_append_new(m, odata_link(path));
    }
    resp_json(
        r, 200,
        collection(SESSIONS, "#SessionCollection.SessionCollection", "Session Collection", m));
}

void h_session(struct req *q, struct resp *r)
{
    struct session *s = session_find(ARG(q, 2));
    if (!s || !may_see(q, s))
        return resp_error(r, 404, "ResourceNotFound", "no session %s", ARG(q, 2));
    if (q->method == M_DELETE) {
        session_close(s);
        r->status = 204;
        return;
    }
    resp_json(r, 200, session_json(s));
}
