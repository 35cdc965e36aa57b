/* accounts.c: accounts in the NV store, PBKDF2-HMAC-SHA256 hashes, lockout with backoff. */
#include "accounts.h"
#include "auth.h"
#include "nv.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NV_ACCOUNTS "agent.accounts"
/* ~50 ms per hash natively: slow for a guesser, once a minute for a user (the Basic cache). */
#define PBKDF2_ITER 100000

static struct account accounts[MAX_ACCOUNTS];
static int naccounts;

int accounts_count(void)
{
    return naccounts;
}

struct account *account_at(int i)
{
    return i >= 0 && i < naccounts ? &accounts[i] : NULL;
}

struct account *account_find(const char *user)
{
    for (int i = 0; user && i < naccounts; i++)
        if (!strcmp(accounts[i].user, user))
            return &accounts[i];
    return NULL;
}

static void hash_pw(const char *pw, const unsigned char salt[16], unsigned iter,
                    unsigned char out[32])
{
    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, 16, (int)iter, EVP_sha256(), 32, out);
}

static int password_ok(const char *pw, char *why, size_t n)
{
    size_t l = strlen(pw);
    if (l < 8 || l > 128) {
        snprintf(why, n, "a password has 8 to 128 characters");
        return 0;
    }
    return 1;
}

int account_set_password(struct account *a, const char *password, char *why, size_t n)
{
    if (!password_ok(password, why, n))
        return -1;
    RAND_bytes(a->salt, sizeof a->salt);
    a->iter = PBKDF2_ITER;
    hash_pw(password, a->salt, a->iter, a->hash);
    auth_cache_clear();
    return 0;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int unhex(const char *s, unsigned char *p, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        p[i] = (unsigned char)v;
    }
    return 0;
}

int accounts_save(void)
{
    json_t *arr = json_array();
    for (int i = 0; i < naccounts; i++) {
        char salt[33], hash[65];
        hex(accounts[i].salt, 16, salt);
        hex(accounts[i].hash, 32, hash);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s, s:s, s:i}", "user",
                                             accounts[i].user, "role", role_name(accounts[i].role),
                                             "enabled", accounts[i].enabled, "salt", salt, "hash",
                                             hash, "iter", (int)accounts[i].iter));
    }
    return nv_put_json(NV_ACCOUNTS, arr);
}

static int user_ok(const char *u)
{
    size_t l = u ? strlen(u) : 0;
    if (l < 1 || l > USER_MAX || u[0] == '.')
        return 0;
    return strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == l;
}

int account_create(const char *user, const char *password, int role, char *why, size_t n)
{
    if (!user_ok(user)) {
        snprintf(why, n, "UserName must be 1-32 characters of [A-Za-z0-9._-]");
        return -1;
    }
    if (account_find(user)) {
        snprintf(why, n, "an account named %s exists", user);
        return -1;
    }
    if (naccounts == MAX_ACCOUNTS) {
        snprintf(why, n, "at most %d accounts", MAX_ACCOUNTS);
        return -1;
    }
    struct account *a = &accounts[naccounts];
    memset(a, 0, sizeof *a);
    snprintf(a->user, sizeof a->user, "%s", user);
    a->role = role;
    a->enabled = 1;
    if (account_set_password(a, password, why, n))
        return -1;
    naccounts++;
    return 0;
}

int account_delete(const char *user, char *why, size_t n)
{
    struct account *a = account_find(user);
    int admins = 0;
    for (int i = 0; i < naccounts; i++)
        admins += accounts[i].role == ROLE_ADMIN && accounts[i].enabled;
    if (a && a->role == ROLE_ADMIN && admins == 1) {
        snprintf(why, n, "the last administrator cannot be deleted");
        return -1;
    }
    if (!a)
        return -1;
    *a = accounts[--naccounts];
    auth_cache_clear();
    return 0;
}

int auth_password(const char *user, const char *password, int *role, char *why, size_t n)
{
    struct account *a = account_find(user);
    time_t now = time(NULL);
    unsigned char h[32];
    snprintf(why, n, "invalid credentials, or the account is locked after repeated failures");
    if (!a) {
        static const unsigned char dummy[16];
        hash_pw(password, dummy, PBKDF2_ITER, h); /* the same time as a known user's */
        return -1;
    }
    if (!a->enabled)
        return -1;
    /* While locked nothing is checked, and every attempt counts as a failure: a guesser
     * who keeps trying keeps the account locked, twice as long each time. */
    int locked = a->locked_until > now;
    if (!locked)
        hash_pw(password, a->salt, a->iter, h);
    if (locked || CRYPTO_memcmp(h, a->hash, 32) != 0) {
        if (++a->failures >= LOCKOUT_THRESHOLD) {
            int k = a->failures - LOCKOUT_THRESHOLD;
            long wait = k > 6 ? LOCKOUT_MAX_S : (long)LOCKOUT_BASE_S << k;
            a->locked_until = now + (wait > LOCKOUT_MAX_S ? LOCKOUT_MAX_S : wait);
            fprintf(stderr, "mgmt-agent: account %s locked for %ld s after %d failures\n", a->user,
                    (long)(a->locked_until - now), a->failures);
        }
        return -1;
    }
    a->failures = 0;
    *role = a->role;
    return 0;
}

static int load(void)
{
    uint8_t *data;
    size_t len;
    int rc = nv_get(NV_ACCOUNTS, &data, &len);
    if (rc)
        return rc;
    json_t *arr = json_loadb((char *)data, len, 0, NULL);
    free(data);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        struct account *a = &accounts[naccounts];
        const char *u = json_string_value(json_object_get(e, "user"));
        a->role = role_from_name(json_string_value(json_object_get(e, "role")));
        a->enabled = json_is_true(json_object_get(e, "enabled"));
        a->iter = (unsigned)json_integer_value(json_object_get(e, "iter"));
        if (naccounts == MAX_ACCOUNTS || !user_ok(u) || a->role < 0 || a->iter < 1000 ||
            unhex(json_string_value(json_object_get(e, "salt")), a->salt, 16) ||
            unhex(json_string_value(json_object_get(e, "hash")), a->hash, 32))
            continue;
        snprintf(a->user, sizeof a->user, "%s", u);
        naccounts++;
    }
    json_decref(arr);
    return naccounts ? 0 : -1;
}

static int first_password(const char *file, char *pw, size_t n)
{
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f || !fgets(pw, (int)n, f)) {
            fprintf(stderr, "mgmt-agent: cannot read the admin password from %s\n", file);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        pw[strcspn(pw, "\r\n")] = 0;
        return 0;
    }
    static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    unsigned char r[20];
    if (RAND_bytes(r, sizeof r) != 1 || n <= sizeof r)
        return -1;
    for (size_t i = 0; i < sizeof r; i++)
        pw[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    pw[sizeof r] = 0;
    fprintf(stderr,
            "mgmt-agent: created account \"admin\" (Administrator) with password %s\n"
            "mgmt-agent: it is shown this once; change it with PATCH on "
            "/redfish/v1/AccountService/Accounts/admin\n",
            pw);
    return 0;
}

int accounts_init(const char *admin_password_file)
{
    int rc = load();
    if (rc == 0)
        return 0;
    if (rc < 0 && naccounts == 0) {
        uint8_t *d;
        size_t l;
        if (nv_get(NV_ACCOUNTS, &d, &l) != 0) /* hv unreachable: do not overwrite anything */
            return -1;
        free(d); /* present but unusable: start again with a new administrator */
        fprintf(stderr, "mgmt-agent: the stored accounts are unreadable; creating admin\n");
    }
    char pw[160], why[160];
    if (first_password(admin_password_file, pw, sizeof pw) ||
        account_create("admin", pw, ROLE_ADMIN, why, sizeof why)) {
        OPENSSL_cleanse(pw, sizeof pw);
        return -1;
    }
    OPENSSL_cleanse(pw, sizeof pw);
    return accounts_save();
}
