/* accounts.h: the agent's user accounts: salted slow hashes, lockout, kept in the NV store. */
#ifndef AGENT_ACCOUNTS_H
#define AGENT_ACCOUNTS_H

#include <stddef.h>
#include <time.h>

#define MAX_ACCOUNTS 16
#define USER_MAX     32

struct account {
    char user[USER_MAX + 1]; /* also its Id in /AccountService/Accounts/{id} */
    int role;
    int enabled;
    unsigned char salt[16];
    unsigned char hash[32];
    unsigned iter;
    int failures;        /* consecutive failed logins (not persisted) */
    time_t locked_until; /* backoff after repeated failures */
};

/* Loads the accounts from the NV store; with none there, creates "admin" with the password
 * in admin_password_file or a random one printed once on stderr. */
int accounts_init(const char *admin_password_file);
int accounts_count(void);
struct account *account_at(int i);
struct account *account_find(const char *user);
/* Each returns 0 or -1 with why filled (a sentence for the client). */
int account_create(const char *user, const char *password, int role, char *why, size_t n);
int account_delete(const char *user, char *why, size_t n);
int account_set_password(struct account *a, const char *password, char *why, size_t n);
int accounts_save(void);
/* The account lockout policy, for AccountService. */
#define LOCKOUT_THRESHOLD 5
#define LOCKOUT_BASE_S    5
#define LOCKOUT_MAX_S     300

#endif
