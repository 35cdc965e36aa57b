/* web.h: the dashboard's static files (docs/web.md): which requests they answer, and where
 * they are read from. */
#ifndef AGENT_WEB_H
#define AGENT_WEB_H

#include "http.h"

/* The directory holding index.html and assets/ (--web-root); without one, build/web when it
 * exists (native runs from the source tree), else /web (the service VM's image). */
void web_set_root(const char *dir);
/* Whether q asks for the dashboard: "/" or "/assets/<file>". */
int web_wants(const struct req *q);
void web_serve(struct req *q, struct resp *r);

#endif
