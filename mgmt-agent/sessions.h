/* sessions.h: Redfish sessions: X-Auth-Token logins with an idle timeout, in memory. */
#ifndef AGENT_SESSIONS_H
#define AGENT_SESSIONS_H

#include <stddef.h>
#include <time.h>

#define MAX_SESSIONS 64

struct session {
    char id[17];    /* 16 hex digits: the URI's id */
    char token[65]; /* 32 random bytes, hex */
    char user[64];
    int role;
    time_t created, last_used;
};

extern int session_timeout_s; /* SessionService.SessionTimeout, 30 .. 86400 */

/* A new session; NULL when the table is full of live sessions. */
struct session *session_open(const char *user, int role);
/* Finds the session for token, refreshes its idle timer: 0, or -1 (unknown, expired). */
int session_check(const char *token, char *user, size_t ulen, int *role, char *id, size_t idlen);
int session_count(void);
struct session *session_at(int i); /* live sessions only, i < session_count() */
struct session *session_find(const char *id);
void session_close(struct session *s);
/* Ends every session of a user (deleted account, changed password). */
void session_close_user(const char *user);

#endif
