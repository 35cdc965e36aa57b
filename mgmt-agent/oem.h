/* oem.h: the agent's Prometheus endpoint and Vigil's OEM resources (trap policy, reading a
 * stopped guest's memory and registers); kept apart from resources.h's Redfish groups. */
#ifndef AGENT_OEM_H
#define AGENT_OEM_H

#include "http.h"

/* res_metrics.c: GET /metrics (outside /redfish/v1; authenticated, Login). */
int metrics_wants(const struct req *q);
void metrics_serve(struct req *q, struct resp *r);
/* The hook for the crash-upload outbox: a function giving its queue length, reported as
 * vigil_upload_queue_length; until one is set the series is absent. */
void metrics_set_upload_queue(long (*queue_length)(void));

/* res_policy.c: /redfish/v1/Managers/hv/Oem/Vigil/Policy (GET; PATCH with If-Match). */
void h_policy(struct req *q, struct resp *r);

/* res_peek.c: a stopped VM's memory and registers (Administrator only). */
void h_read_memory(struct req *q, struct resp *r);
void h_registers(struct req *q, struct resp *r);

/* Adds RelatedProperties [pointer] to the error r holds (a JSON pointer such as "#/Length"). */
void resp_related(struct resp *r, const char *pointer);

#endif
