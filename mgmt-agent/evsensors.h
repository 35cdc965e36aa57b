/* evsensors.h: hv's sensor readings published as an event every few seconds while an event
 * stream is open (docs/agent.md, "Sensor readings"). */
#ifndef AGENT_EVSENSORS_H
#define AGENT_EVSENSORS_H

#include <stdint.h>

#define EVSENSORS_PERIOD_MS 5000

/* Emits a Vigil.SensorReadings record when one is due and an SSE stream is open (the agent's
 * loop calls it); returns the milliseconds until it should be called again. */
int64_t evsensors_tick(int64_t now_ms);

#endif
