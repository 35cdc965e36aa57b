/* routes.h: the Redfish URI table: which handler, which methods, which privilege. */
#ifndef AGENT_ROUTES_H
#define AGENT_ROUTES_H

#include "http.h"

typedef void (*handler_fn)(struct req *q, struct resp *r);

struct route {
    const char *pattern; /* segments after /redfish/v1, "*" matches one id */
    int methods;         /* HEAD is implied by GET */
    int priv_read;       /* GET, HEAD; 0 = no authentication */
    int priv_write;      /* POST, PATCH, PUT, DELETE; 0 = no authentication */
    handler_fn fn;
};

void routes_dispatch(struct req *q, struct resp *r);
/* An id from a URI: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
int id_ok(const char *id);

#endif
