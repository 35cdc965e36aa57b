/* hvctl.h: what hvctl's files share: the control-socket link and the evidence commands. */
#ifndef HV_CLI_HVCTL_H
#define HV_CLI_HVCTL_H

#include <jansson.h>
#include <stdint.h>

/* Connects to hv's control socket at path; exits with status 2 when it cannot (hvctl_link.c). */
void hvctl_connect(const char *path);
/* Sends req (consumed) with an optional payload and returns hv's answer; *rdata gets the answer's
 * payload (malloc'd) when rdata is not NULL. Exits with status 2 on a broken link. */
json_t *hvctl_request(json_t *req, const void *data, uint32_t data_len, uint8_t **rdata,
                      uint32_t *rlen);
/* Prints an answer (consumed); returns the exit status (1 when ok is false). */
int hvctl_report(json_t *resp);
/* One request {op, key: value} (key may be NULL), its answer printed. */
int hvctl_simple(const char *op, const char *key, const char *value);

/* The evidence commands (hvctl_evidence.c): argv[i] is the first word after the command's name. */
int hvctl_snapshot_command(int argc, char **argv, int i);
int hvctl_peek_command(int argc, char **argv, int i);
int hvctl_gdb_command(int argc, char **argv, int i);

#endif
