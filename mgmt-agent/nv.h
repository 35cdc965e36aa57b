/* nv.h: the agent's records in hv's NV store (accounts, TLS key and certificate). */
#ifndef AGENT_NV_H
#define AGENT_NV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Reads record key into a malloc'd buffer (NUL-terminated for convenience): 0, 1 when it
 * does not exist, -1 when hv could not be asked. */
int nv_get(const char *key, uint8_t **data, size_t *len);
int nv_put(const char *key, const void *data, size_t len);
/* Stores j as compact JSON text, taking its reference (NULL, from a failed json_pack: -1). */
int nv_put_json(const char *key, json_t *j);

#endif
