/* tickets.c: download tickets: a bounded table of random tokens, each good once, for one dump
 * entry, for ticket_ttl_s seconds; kept in memory (an agent restart voids them). */
#include "tickets.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define TICKETS 32

struct ticket {
    char token[TICKET_HEX + 1];
    char entry[72];
    char user[64];
    int role;
    time_t expires; /* 0: free */
};

int ticket_ttl_s = 60;
static struct ticket table[TICKETS];

static time_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* a wall-clock step cannot stretch a ticket */
    return ts.tv_sec;
}

int ticket_issue(const char *entry, const char *user, int role, char *out)
{
    unsigned char raw[TICKET_HEX / 2];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    /* A free or expired slot, else the one closest to expiry. */
    time_t now = now_s();
    struct ticket *t = &table[0];
    for (int i = 0; i < TICKETS; i++) {
        if (table[i].expires <= now) {
            t = &table[i];
            break;
        }
        if (table[i].expires < t->expires)
            t = &table[i];
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(t->token + 2 * i, 3, "%02x", raw[i]);
    snprintf(t->entry, sizeof t->entry, "%s", entry);
    snprintf(t->user, sizeof t->user, "%s", user);
    t->role = role;
    t->expires = now + ticket_ttl_s;
    memcpy(out, t->token, TICKET_HEX + 1);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

int ticket_redeem(const char *token, const char *entry, char *user, size_t ulen, int *role,
                  char *why, size_t wlen)
{
    time_t now = now_s();
    if (strlen(token) != TICKET_HEX) {
        snprintf(why, wlen, "malformed download ticket");
        return -1;
    }
    for (int i = 0; i < TICKETS; i++) {
        struct ticket *t = &table[i];
        if (!t->expires || CRYPTO_memcmp(t->token, token, TICKET_HEX) != 0)
            continue;
        if (t->expires <= now) {
            memset(t, 0, sizeof *t);
            break;
        }
        if (strcmp(t->entry, entry) != 0) {
            snprintf(why, wlen, "the download ticket was made for another dump entry");
            return -1;
        }
        snprintf(user, ulen, "%s", t->user);
        *role = t->role;
        memset(t, 0, sizeof *t); /* single use */
        return 0;
    }
    snprintf(why, wlen, "the download ticket is unknown, used or expired (they last %d s)",
             ticket_ttl_s);
    return -1;
}
