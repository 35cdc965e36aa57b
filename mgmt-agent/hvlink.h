/* hvlink.h: the agent's link to hv: one control-protocol request in, one response out. */
#ifndef AGENT_HVLINK_H
#define AGENT_HVLINK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A response: json (owned, never NULL after a successful call) and an optional payload. */
struct hv_reply {
    json_t *json;
    uint8_t *data; /* malloc'd, may be NULL when data_len is 0 */
    size_t data_len;
};

/* A transport: the Unix control socket natively, the service channel in the service VM.
 * call() sends one framed request and waits for its response (hv answers at once); it
 * returns 0, or -1 when the link itself failed (err names why). */
struct hvlink_ops {
    int (*call)(void *ctx, const json_t *req, const void *data, size_t len, struct hv_reply *out,
                char *err, size_t errlen);
};

/* Opens the link with the transport this build has: hv's Unix socket at `where` natively
 * (hvlink_unix.c), the service channel in the service VM (hvlink_svc.c, `where` unused). */
int hvlink_open(const char *where, char *err, size_t errlen);
/* A directory that stands in for the NV store and snapshot reads when hv lacks those ops
 * (native use against an older hv); NULL disables the fallback. */
void hvlink_set_compat_dir(const char *dir);

/* Sends req (not consumed) and returns 0 with hv's reply, or -1 (link down: reply is an
 * error object with code "ELINK" so callers handle one shape). */
int hv_call(const json_t *req, const void *data, size_t len, struct hv_reply *out);
/* hv_call for a request built with json_pack; frees req. Returns the JSON reply (ok or not). */
json_t *hv_simple(json_t *req);
void hv_reply_free(struct hv_reply *r);
/* true when reply.ok is true */
int hv_ok(const json_t *reply);
const char *hv_code(const json_t *reply);

/* Framing shared by transports (include/vigil/ctlproto.h). */
size_t hvlink_encode(const json_t *req, const void *data, size_t len, uint8_t **out);
int hvlink_decode(const uint8_t *hdr16, uint32_t *json_len, uint32_t *data_len);

#endif
