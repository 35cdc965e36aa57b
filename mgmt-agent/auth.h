/* auth.h: roles, privileges (the Redfish privilege registry's), and request authentication. */
#ifndef AGENT_AUTH_H
#define AGENT_AUTH_H

#include "http.h"

enum priv {
    P_LOGIN = 1,
    P_CONF_COMPONENTS = 2,
    P_CONF_MANAGER = 4,
    P_CONF_USERS = 8,
    P_CONF_SELF = 16,
};

enum role { ROLE_ADMIN, ROLE_OPERATOR, ROLE_READONLY, ROLE_COUNT };

const char *role_name(int role);
int role_from_name(const char *name); /* -1 if unknown */
int role_privs(int role);
/* The privilege's name in the registry, for Roles' AssignedPrivileges. */
const char *priv_name(int priv);

/* Authenticates q by X-Auth-Token or HTTP Basic; 0 and q->user/role/privs set, or -1 with
 * r holding the 401. */
int auth_request(struct req *q, struct resp *r);
/* Verifies a user's password (slow hash, lockout); 0 on success, with *role. */
int auth_password(const char *user, const char *password, int *role, char *why, size_t n);
/* Forgets cached Basic credentials (after a password or role change). */
void auth_cache_clear(void);

#endif
