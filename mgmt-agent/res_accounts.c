/* res_accounts.c: AccountService, Accounts (create, change, delete) and the three Roles. */
#include "accounts.h"
#include "auth.h"
#include "resources.h"
#include "sessions.h"

#include <stdio.h>
#include <string.h>

#define ACCOUNTS "/redfish/v1/AccountService/Accounts"
#define ROLES    "/redfish/v1/AccountService/Roles"

void h_account_service(struct req *q, struct resp *r)
{
    (void)q;
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:i, s:i, s:i, s:i, s:o, s:o}", "@odata.id",
                        "/redfish/v1/AccountService", "@odata.type",
                        "#AccountService.v1_13_0.AccountService", "Id", "AccountService", "Name",
                        "Account Service", "ServiceEnabled", 1, "MinPasswordLength", 8,
                        "MaxPasswordLength", 128, "AccountLockoutThreshold", LOCKOUT_THRESHOLD,
                        "AccountLockoutDuration", LOCKOUT_BASE_S, "AccountLockoutCounterResetAfter",
                        LOCKOUT_MAX_S, "Accounts", odata_link(ACCOUNTS), "Roles",
                        odata_link(ROLES)));
}

static json_t *account_json(const struct account *a)
{
    char path[128], role[96];
    snprintf(path, sizeof path, ACCOUNTS "/%s", a->user);
    snprintf(role, sizeof role, ROLES "/%s", role_name(a->role));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:n, s:{s:o}}", "@odata.id", path,
                     "@odata.type", "#ManagerAccount.v1_10_0.ManagerAccount", "Id", a->user, "Name",
                     "User Account", "UserName", a->user, "RoleId", role_name(a->role), "Enabled",
                     a->enabled, "Locked", a->locked_until > time(NULL), "Password", "Links",
                     "Role", odata_link(role));
}

static void create(struct req *q, struct resp *r)
{
    const char *user = json_string_value(json_object_get(q->json, "UserName"));
    const char *pw = json_string_value(json_object_get(q->json, "Password"));
    const char *rid = json_string_value(json_object_get(q->json, "RoleId"));
    if (!user || !pw || !rid)
        return resp_error(r, 400, "PropertyMissing",
                          "a new account needs UserName, Password and RoleId");
    int role = role_from_name(rid);
    if (role < 0)
        return resp_error(r, 400, "PropertyValueNotInList",
                          "RoleId %.40s is not Administrator, Operator or ReadOnly", rid);
    char why[160];
    if (account_find(user))
        return resp_error(r, 409, "ResourceAlreadyExists", "an account named %.40s exists", user);
    if (account_create(user, pw, role, why, sizeof why))
        return resp_error(r, 400, "PropertyValueFormatError", "%s", why);
    if (accounts_save())
        return resp_error(r, 500, "GeneralError", "the account could not be stored");
    char loc[128];
    snprintf(loc, sizeof loc, ACCOUNTS "/%s", user);
    resp_header(r, "Location", loc);
    resp_json(r, 201, account_json(account_find(user)));
}

void h_accounts(struct req *q, struct resp *r)
{
    if (q->method == M_POST)
        return create(q, r);
    json_t *m = json_array();
    for (int i = 0; i < accounts_count(); i++) {
        struct account *a = account_at(i);
        char path[128];
        snprintf(path, sizeof path, ACCOUNTS "/%s", a->user);
        if ((q->privs & P_CONF_USERS) || !strcmp(a->user, q->user))
            json_array_append_new(m, odata_link(path));
    }
    resp_json(r, 200,
              collection(ACCOUNTS, "#ManagerAccountCollection.ManagerAccountCollection",
                         "Accounts Collection", m));
}

/* PATCH: Password (ConfigureSelf on one's own account), RoleId, Enabled, Locked=false. */
static void patch(struct req *q, struct resp *r, struct account *a)
{
    const char *key;
    json_t *v;
    int self = !strcmp(a->user, q->user);
    json_object_foreach(q->json, key, v)
    {
        if (strcmp(key, "Password") && strcmp(key, "RoleId") && strcmp(key, "Enabled") &&
            strcmp(key, "Locked"))
            return resp_error(r, 400, "PropertyUnknown", "property %.40s cannot be changed", key);
        if (strcmp(key, "Password") && !(q->privs & P_CONF_USERS))
            return resp_error(r, 403, "InsufficientPrivilege", "changing %s needs ConfigureUsers",
                              key);
    }
    if (!self && !(q->privs & P_CONF_USERS))
        return resp_error(r, 403, "InsufficientPrivilege",
                          "another user's account needs "
                          "ConfigureUsers");
    json_t *cur = account_json(a);
    int ok = if_match_ok(q, cur);
    json_decref(cur);
    if (!ok)
        return resp_error(r, 412, "PreconditionFailed", "If-Match names another version");
    struct account next = *a;
    char why[160];
    if ((v = json_object_get(q->json, "RoleId")) &&
        (next.role = role_from_name(json_string_value(v))) < 0)
        return resp_error(r, 400, "PropertyValueNotInList", "RoleId is not a role's Id");
    if ((v = json_object_get(q->json, "Enabled")) && !json_is_boolean(v))
        return resp_error(r, 400, "PropertyValueTypeError", "Enabled must be a boolean");
    if (v)
        next.enabled = json_is_true(v);
    if ((v = json_object_get(q->json, "Locked"))) {
        if (!json_is_false(v))
            return resp_error(r, 400, "PropertyValueNotInList", "Locked can only be set false");
        next.locked_until = 0, next.failures = 0;
    }
    if ((v = json_object_get(q->json, "Password")) &&
        (!json_is_string(v) || account_set_password(&next, json_string_value(v), why, sizeof why)))
        return resp_error(r, 400, "PropertyValueFormatError", "%s",
                          json_is_string(v) ? why : "Password must be a string");
    int demoted = next.role != a->role || next.enabled != a->enabled;
    *a = next;
    if (demoted)
        session_close_user(a->user); /* their sessions carry the old role */
    auth_cache_clear();
    if (accounts_save())
        return resp_error(r, 500, "GeneralError", "the account could not be stored");
    resp_json(r, 200, account_json(a));
}

void h_account(struct req *q, struct resp *r)
{
    struct account *a = account_find(ARG(q, 2));
    int self = a && !strcmp(a->user, q->user);
    if (!a)
        return resp_error(r, 404, "ResourceNotFound", "no account %s", ARG(q, 2));
    if (!self && !(q->privs & P_CONF_USERS))
        return resp_error(r, 403, "InsufficientPrivilege",
                          "another user's account needs the ConfigureUsers privilege");
    if (q->method == M_PATCH)
        return patch(q, r, a);
    if (q->method == M_DELETE) {
        char why[160], user[USER_MAX + 1];
        if (!(q->privs & P_CONF_USERS))
            return resp_error(r, 403, "InsufficientPrivilege", "deleting needs ConfigureUsers");
        snprintf(user, sizeof user, "%s", a->user);
        if (account_delete(user, why, sizeof why))
            return resp_error(r, 409, "ResourceCannotBeDeleted", "%s", why);
        session_close_user(user);
        if (accounts_save())
            return resp_error(r, 500, "GeneralError", "the change could not be stored");
        r->status = 204;
        return;
    }
    resp_json(r, 200, account_json(a));
}

static json_t *role_json(int role)
{
    char path[96];
    snprintf(path, sizeof path, ROLES "/%s", role_name(role));
    json_t *p = json_array();
    for (int b = 1; b <= P_CONF_SELF; b <<= 1)
        if (role_privs(role) & b)
            json_array_append_new(p, json_string(priv_name(b)));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:[]}", "@odata.id", path, "@odata.type",
                     "#Role.v1_3_1.Role", "Id", role_name(role), "Name", role_name(role), "RoleId",
                     role_name(role), "IsPredefined", 1, "AssignedPrivileges", p, "OemPrivileges");
}

void h_roles(struct req *q, struct resp *r)
{
    (void)q;
    json_t *m = json_array();
    for (int i = 0; i < ROLE_COUNT; i++) {
        char path[96];
        snprintf(path, sizeof path, ROLES "/%s", role_name(i));
        json_array_append_new(m, odata_link(path));
    }
    resp_json(r, 200, collection(ROLES, "#RoleCollection.RoleCollection", "Roles Collection", m));
}

void h_role(struct req *q, struct resp *r)
{
    int role = role_from_name(ARG(q, 2));
    if (role < 0)
        return resp_error(r, 404, "ResourceNotFound", "no role %s", ARG(q, 2));
    resp_json(r, 200, role_json(role));
}
