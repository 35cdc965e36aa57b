/* ctlproto.h: Vigil control protocol v1 framing, shared by hv, hvctl and (later) the service
 * channel. */
#ifndef VIGIL_CTLPROTO_H
#define VIGIL_CTLPROTO_H

/*
 * A message is a 16-byte header, then `json_len` bytes of UTF-8 JSON (one
 * object), then `data_len` bytes of binary payload (console bytes, guest
 * memory).  Requests carry {"op": "...", ...}; every response carries
 * {"ok": true, ...} or {"ok": false, "error": "<message>", "code": "<CODE>"}.
 * The operations are listed in docs/control-protocol.md.  All integers are
 * little-endian.  A peer that receives a header it cannot accept (bad magic,
 * unknown version, oversized lengths) answers with an error and closes.
 */

#include <stdint.h>

#define VIGIL_CTL_MAGIC    0x4c544356u /* "VCTL" */
#define VIGIL_CTL_VERSION  1u
#define VIGIL_CTL_JSON_MAX (64u * 1024u)
#define VIGIL_CTL_DATA_MAX (16u * 1024u * 1024u)

enum vigil_ctl_kind {
    VIGIL_CTL_REQUEST = 1,
    VIGIL_CTL_RESPONSE = 2,
};

struct vigil_ctl_header {
    uint32_t magic;   /* VIGIL_CTL_MAGIC */
    uint16_t version; /* VIGIL_CTL_VERSION */
    uint16_t kind;    /* enum vigil_ctl_kind */
    uint32_t json_len;
    uint32_t data_len;
};

#endif
