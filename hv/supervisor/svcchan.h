/* svcchan.h: the service channel's hypercall side (SVC_CALL, include/vigil/hypercall.h): the one
 * call the service VM has in flight, from its submission on a vCPU thread through the main
 * loop's answer (control/svc_serve.c) to its collection (docs/service-channel.md). */
#ifndef HV_SVCCHAN_H
#define HV_SVCCHAN_H

#include "vmm/hv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct svc_channel;

struct svc_channel *svcchan_new(void);
void svcchan_free(struct svc_channel *c);

/* The SVC_CALL hypercall's handler (a row in supervisor/hypercall_calls.c). */
int64_t hc_svc_call(struct vcpu *v, void *arg, uint32_t gpa);

/* Main loop: takes the queued request, if there is one: true, with *req (malloc'd, the
 * caller's now), *len and *ticket. */
bool svcchan_take(struct svc_channel *c, uint8_t **req, size_t *len, uint64_t *ticket);
/* Main loop: resp (malloc'd, the channel's now) answers call `ticket`; the service VM's WAIT
 * for VIGIL_EV_REPLY wakes. */
void svcchan_answer(struct hv *hv, uint64_t ticket, uint8_t *resp, size_t len);

#endif
