/* hvlink_impl.h: what hv link transports and the compat fallback provide to hvlink.c. */
#ifndef AGENT_HVLINK_IMPL_H
#define AGENT_HVLINK_IMPL_H

#include "hvlink.h"

void hvlink_install(const struct hvlink_ops *ops, void *ctx);
int hvlink_compat_handles(const char *op);
int hvlink_compat_call(const char *dir, const json_t *req, const void *data, size_t len,
                       struct hv_reply *out);

#endif
