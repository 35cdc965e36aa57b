/* svc_serve.h: the service channel's control side: what the service VM may ask (the grants) and
 * the main loop's answering of its calls through the control handlers (docs/service-channel.md). */
#ifndef HV_SVC_SERVE_H
#define HV_SVC_SERVE_H

#include "vmm/hv.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the channel grants operation `op` to the service VM. */
bool svc_op_granted(const char *op);
/* Whether the service VM (`service`, NULL if none) may make request `req` (operation op): granted,
 * and not one that would stop it for good (pause or trap of itself).  If not, why says why. */
bool svc_request_allowed(struct vm *service, const char *op, const json_t *req, char *why,
                         size_t len);
/* The granted operations' names (*n of them), for tests and documentation. */
const char *const *svc_granted_ops(size_t *n);

/* Answers the service VM's queued call, if there is one (the main loop, every iteration). */
void svc_serve(struct hv *hv);

/* The answer to a request of len bytes as the channel gives it: a framed response (malloc'd,
 * *out_len bytes).  Never fails but for memory (NULL). */
uint8_t *svc_answer(struct hv *hv, const uint8_t *req, size_t len, size_t *out_len);

#endif
