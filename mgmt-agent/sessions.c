/* sessions.c: the session table: random tokens compared in constant time, idle expiry. */
#include "sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

int session_timeout_s = 1800;

static struct session table[MAX_SESSIONS];
static int count;

static void expire(void)
{
    time_t now = time(NULL);
    for (int i = 0; i < count;)
        if (now - table[i].last_used > session_timeout_s)
            session_close(&table[i]);
        else
            i++;
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char r[32];
    RAND_bytes(r, (int)bytes);
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    OPENSSL_cleanse(r, sizeof r);
}

struct session *session_open(const char *user, int role)
{
    expire();
    if (count == MAX_SESSIONS)
        return NULL;
    struct session *s = &table[count++];
    memset(s, 0, sizeof *s);
    random_hex(s->id, 8);
    random_hex(s->token, 32);
    snprintf(s->user, sizeof s->user, "%s", user);
    s->role = role;
    s->created = s->last_used = time(NULL);
    return s;
}

int session_check(const char *token, char *user, size_t ulen, int *role, char *id, size_t idlen)
{
    expire();
    if (strlen(token) != 64)
        return -1;
    for (int i = 0; i < count; i++)
        if (CRYPTO_memcmp(table[i].token, token, 64) == 0) {
            table[i].last_used = time(NULL);
            snprintf(user, ulen, "%s", table[i].user);
            snprintf(id, idlen, "%s", table[i].id);
            *role = table[i].role;
            return 0;
        }
    return -1;
}

int session_count(void)
{
    expire();
    return count;
}

struct session *session_at(int i)
{
    return i >= 0 && i < count ? &table[i] : NULL;
}

struct session *session_find(const char *id)
{
    expire();
    for (int i = 0; i < count; i++)
        if (!strcmp(table[i].id, id))
            return &table[i];
    return NULL;
}

void session_close(struct session *s)
{
    OPENSSL_cleanse(s->token, sizeof s->token);
    *s = table[--count];
}

void session_close_user(const char *user)
{
    for (int i = 0; i < count;)
        if (!strcmp(table[i].user, user))
            session_close(&table[i]);
        else
            i++;
}
