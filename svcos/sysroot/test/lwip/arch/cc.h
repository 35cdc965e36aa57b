/* cc.h: self-check only: lwIP platform glue for the lwIP compile check. */
#ifndef SELFCHECK_ARCH_CC_H
#define SELFCHECK_ARCH_CC_H

#include <stdlib.h>

#define LWIP_RAND() ((u32_t)rand())

#endif
