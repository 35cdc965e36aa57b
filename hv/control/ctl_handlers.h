/* ctl_handlers.h: control-protocol request handlers, independent of the transport carrying them. */
#ifndef HV_CTL_HANDLERS_H
#define HV_CTL_HANDLERS_H

#include "control/ctl_proto.h"
#include "vmm/hv.h"

struct ctl_reply {
    json_t *json;  /* always set */
    uint8_t *data; /* optional binary payload, malloc'd */
    uint32_t data_len;
};

/* Answers one request.  Never fails: errors become {"ok": false, ...}. */
void ctl_handle(struct hv *hv, const struct ctl_msg *req, struct ctl_reply *out);

#endif
