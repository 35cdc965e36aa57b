/* res_tickets.c: the Dump entry's Oem action that makes a download ticket for its attachment. */
#include "hvlink.h"
#include "resources.h"
#include "tickets.h"

#include <stdio.h>
#include <string.h>

#define ENTRIES "/redfish/v1/Managers/hv/LogServices/Dump/Entries"

void h_dump_ticket(struct req *q, struct resp *r)
{
    if (strcmp(ARG(q, 1), "hv")) {
        resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
        return;
    }
    /* The entry must exist now; it may still be deleted before the ticket is used (404 then). */
    json_t *rep = hv_get(r, json_pack("{s:s, s:s}", "op", "snapshot.show", "id", ARG(q, 5)));
    if (!rep)
        return;
    json_decref(rep);
    char token[TICKET_HEX + 1], uri[300];
    if (ticket_issue(ARG(q, 5), q->user, q->role, token)) {
        resp_error(r, 500, "InternalError", "no random bytes for a ticket");
        return;
    }
    snprintf(uri, sizeof uri, ENTRIES "/%s/attachment?ticket=%s", ARG(q, 5), token);
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:i, s:s}", "Ticket", token, "AttachmentURI", uri,
                        "ExpiresInSeconds", ticket_ttl_s, "Use",
                        "once, with no credentials, for this entry's attachment"));
}
