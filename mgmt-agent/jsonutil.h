/* jsonutil.h: bounded JSON parsing of request bodies and small JSON helpers. */
#ifndef AGENT_JSONUTIL_H
#define AGENT_JSONUTIL_H

#include <jansson.h>
#include <stddef.h>

/* Parses one JSON object of at most max_depth nesting levels; NULL with err set otherwise. */
json_t *json_parse_bounded(const char *s, size_t n, int max_depth, char *err, size_t errlen);
/* {"@odata.id": path} */
json_t *odata_link(const char *path);
/* A sha-256 hex digest of the compact serialization: ETags of JSON resources. */
void json_etag(const char *text, size_t n, char out[24]);

#endif
