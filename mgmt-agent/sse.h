/* sse.h: the EventService's server-sent event streams (GET /redfish/v1/EventService/SSE). */
#ifndef AGENT_SSE_H
#define AGENT_SSE_H

#include "http.h"

#include <stdint.h>

#define SSE_MAX         32           /* streams at once (each is also a connection) */
#define SSE_QUEUE_MAX   (256 * 1024) /* bytes of new events a stream may fall behind by */
#define SSE_KEEPALIVE_S 15

/* The SSE handler (routes.c). */
void h_sse(struct req *q, struct resp *r);
/* Keep-alives and the end of streams whose session ended; returns ms until it is due again. */
int64_t sse_tick(int64_t now_ms);
/* Ends every stream (at exit), so that no MHD connection stays suspended. */
void sse_close_all(void);
int sse_count(void);

#endif
