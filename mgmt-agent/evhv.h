/* evhv.h: follows hv's event stream and turns each hv event into a Redfish EventRecord. */
#ifndef AGENT_EVHV_H
#define AGENT_EVHV_H

#include <stdint.h>

#define EVHV_POLL_MS 50 /* hv answers `events` at once; this is the latency floor it adds */

/* Polls hv when due (the agent's loop calls it); returns the milliseconds until it is due
 * again. The first poll takes over what hv still holds (up to 256 events). */
int64_t evhv_tick(int64_t now_ms);

/* MessageIds of the Vigil registry (docs/agent.md, "Event registry"). */
#define VIGIL_REG "Vigil.1.0."

#endif
