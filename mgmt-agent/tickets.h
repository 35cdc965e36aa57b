/* tickets.h: single-use, short-lived download tickets for <a download> links (no headers). */
#ifndef AGENT_TICKETS_H
#define AGENT_TICKETS_H

#include <stddef.h>

#define TICKET_HEX 64 /* 32 random bytes */

extern int ticket_ttl_s; /* --ticket-ttl, default 60 */

/* A new ticket for dump entry `entry`, on behalf of user/role: its token (hex) in out
 * (TICKET_HEX + 1 bytes).  0, or -1 if the random source failed. */
int ticket_issue(const char *entry, const char *user, int role, char *out);
/* Redeems token for `entry`: 0 with user/role set, and the ticket is gone (single use); -1
 * with why set for an unknown, expired or used token, or one made for another entry (that one
 * stays valid for its own). */
int ticket_redeem(const char *token, const char *entry, char *user, size_t ulen, int *role,
                  char *why, size_t wlen);

#endif
