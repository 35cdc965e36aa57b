/* agent.h: process-wide settings of the agent (set once in main.c). */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

extern char agent_uuid[37];

#endif
