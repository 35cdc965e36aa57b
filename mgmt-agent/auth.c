/* auth.c: request authentication: sessions' tokens, or HTTP Basic with a short-lived cache. */
#include "auth.h"
#include "accounts.h"
#include "conn.h"
#include "sessions.h"
#include "tickets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const role_names[ROLE_COUNT] = {"Administrator", "Operator", "ReadOnly"};

const char *role_name(int role)
{
    return role >= 0 && role < ROLE_COUNT ? role_names[role] : "ReadOnly";
}

int role_from_name(const char *name)
{
    for (int i = 0; name && i < ROLE_COUNT; i++)
        if (!strcmp(name, role_names[i]))
            return i;
    return -1;
}

int role_privs(int role)
{
    switch (role) {
    case ROLE_ADMIN:
        return P_LOGIN | P_CONF_COMPONENTS | P_CONF_MANAGER | P_CONF_USERS | P_CONF_SELF;
    case ROLE_OPERATOR:
        return P_LOGIN | P_CONF_COMPONENTS | P_CONF_SELF;
    default:
        return P_LOGIN | P_CONF_SELF;
    }
}

const char *priv_name(int priv)
{
    switch (priv) {
    case P_LOGIN:
        return "Login";
    case P_CONF_COMPONENTS:
        return "ConfigureComponents";
    case P_CONF_MANAGER:
        return "ConfigureManager";
    case P_CONF_USERS:
        return "ConfigureUsers";
    default:
        return "ConfigureSelf";
    }
}

/* Verified Basic credentials, remembered by a keyed hash of user:password (never the
 * password itself) for a short while, so the slow password hash is paid once a minute. */
#define CACHE_SLOTS 32
#define CACHE_TTL   60

struct cached {
    unsigned char mac[32];
    time_t expires;
    int role;
    char user[64];
};

static struct cached cache[CACHE_SLOTS];
static unsigned char cache_key[32];
static int cache_keyed;

void auth_cache_clear(void)
{
    memset(cache, 0, sizeof cache);
}

static void cred_mac(const char *cred, unsigned char mac[32])
{
    if (!cache_keyed)
        cache_keyed = RAND_bytes(cache_key, sizeof cache_key) == 1;
    unsigned int l = 32;
    HMAC(EVP_sha256(), cache_key, sizeof cache_key, (const unsigned char *)cred, strlen(cred), mac,
         &l);
}

static int unauthorized(struct resp *r, const char *why)
{
    resp_error(r, 401, "NoValidSession", "%s", why);
    resp_header(r, "WWW-Authenticate", "Basic realm=\"Vigil Redfish\", charset=\"UTF-8\"");
    return -1;
}

static int basic(struct req *q, struct resp *r, const char *b64)
{
    unsigned char dec[256];
    size_t n = strlen(b64);
    if (n == 0 || n > 340)
        return unauthorized(r, "malformed Basic credentials");
    int l = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n);
    if (l < 0)
        return unauthorized(r, "malformed Basic credentials");
    while (l > 0 && n > 0 && b64[--n] == '=')
        l--; /* EVP_DecodeBlock counts the padding */
    dec[l] = 0;
    char *colon = strchr((char *)dec, ':');
    if (!colon || strlen((char *)dec) != (size_t)l)
        return unauthorized(r, "malformed Basic credentials");
    unsigned char mac[32];
    cred_mac((char *)dec, mac);
    time_t now = time(NULL);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].expires > now && CRYPTO_memcmp(cache[i].mac, mac, 32) == 0) {
            snprintf(q->user, sizeof q->user, "%s", cache[i].user);
            q->role = cache[i].role;
            OPENSSL_cleanse(dec, sizeof dec);
            return 0;
        }
    *colon = 0;
    char why[160];
    int role;
    int rc = auth_password((char *)dec, colon + 1, &role, why, sizeof why);
    if (rc == 0) {
        int slot = 0;
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (cache[i].expires < cache[slot].expires)
                slot = i;
        memcpy(cache[slot].mac, mac, 32);
        cache[slot].expires = now + CACHE_TTL;
        cache[slot].role = role;
        snprintf(cache[slot].user, sizeof cache[slot].user, "%s", (char *)dec);
        snprintf(q->user, sizeof q->user, "%s", (char *)dec);
        q->role = role;
    }
    OPENSSL_cleanse(dec, sizeof dec);
    return rc ? unauthorized(r, why) : 0;
}

/* A download ticket stands for its maker's credentials on one GET of the attachment of the
 * dump entry it was made for, and nowhere else. */
static int ticket_auth(struct req *q, struct resp *r)
{
    static const char *const path[] = {"redfish",     "v1",   "Managers", "hv",
                                       "LogServices", "Dump", "Entries"};
    int ok = q->nsegs == 9 && (q->method & (M_GET | M_HEAD)) && !strcmp(q->segs[8], "attachment");
    for (int i = 0; ok && i < 7; i++)
        ok = !strcmp(q->segs[i], path[i]);
    if (!ok)
        return unauthorized(r,
                            "a download ticket is good only for GET of a dump entry's attachment");
    char why[160];
    if (ticket_redeem(req_arg(q, "ticket"), q->segs[7], q->user, sizeof q->user, &q->role, why,
                      sizeof why))
        return unauthorized(r, why);
    return 0;
}

/* A verified client certificate (mtls.c) logs in as the account its Subject CN names, when no
 * header asks for anything else.  Returns whether one was presented; *rc -1 with r holding the
 * 401 if its account cannot log in. */
static int cert_login(struct req *q, struct resp *r, int *rc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(q->mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const char *user = ci ? conn_cert_user(ci->connect_fd) : NULL;
    if (!user)
        return 0;
    struct account *a = account_find(user);
    *rc = 0;
    if (!a || !a->enabled) {
        char why[160];
        snprintf(why, sizeof why, "the client certificate's CN \"%.40s\" names no enabled account",
                 user);
        *rc = unauthorized(r, why);
        return 1;
    }
    snprintf(q->user, sizeof q->user, "%s", a->user);
    q->role = a->role;
    return 1;
}

int auth_request(struct req *q, struct resp *r)
{
    const char *token = req_header(q, "X-Auth-Token");
    const char *authz = req_header(q, "Authorization");
    int rc;
    if (token) {
        rc = session_check(token, q->user, sizeof q->user, &q->role, q->session, sizeof q->session);
        if (rc)
            return unauthorized(r, "the X-Auth-Token names no open session");
    } else if (authz && !strncasecmp(authz, "Basic ", 6)) {
        if (basic(q, r, authz + 6))
            return -1;
    } else if (cert_login(q, r, &rc)) {
        if (rc)
            return -1;
    } else if (req_arg(q, "ticket")) {
        if (ticket_auth(q, r))
            return -1;
    } else {
        return unauthorized(r, "authentication is required: a session token or Basic");
    }
    q->authed = 1;
    q->privs = role_privs(q->role);
    return 0;
}
