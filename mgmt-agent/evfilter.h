/* evfilter.h: the SSE stream's $filter: a small boolean expression over an event's properties. */
#ifndef AGENT_EVFILTER_H
#define AGENT_EVFILTER_H

#include "events.h"

#include <stddef.h>

#define EVFILTER_NODES 32

/* A compiled filter. Grammar (Redfish's $filter subset for SSE, DSP0266):
 *   expr := and ("or" and)*      and := unary ("and" unary)*
 *   unary := "not" unary | "(" expr ")" | PROP ("eq" | "ne") VALUE
 * PROP is EventType, MessageId, OriginResource or RegistryPrefix; VALUE a bare word or 'quoted'.
 * A MessageId value without a version ("Vigil.GuestCrashed") matches every version. */
struct evfilter {
    int n, root;
    struct evnode {
        int op; /* see evfilter.c */
        int prop;
        int l, r;
        char value[128];
    } nodes[EVFILTER_NODES];
};

/* 0 with f compiled, or -1 with err naming what is wrong and where. */
int evfilter_parse(struct evfilter *f, const char *text, char *err, size_t errlen);
/* Whether e passes; an empty filter (n == 0) passes everything. */
int evfilter_match(const struct evfilter *f, const struct event *e);

#endif
