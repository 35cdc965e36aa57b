/* upload_meta.h: a crash report's metadata JSON, gathered from hv. */
#ifndef AGENT_UPLOAD_META_H
#define AGENT_UPLOAD_META_H

#include <jansson.h>

/* The metadata of the report uuid for snapshot snap (hv's snapshot.show answer `s`): its id,
 * VM, trigger, time, registers and fault, the SEL entries around the crash, the VM's last
 * console output, hv's version and the VM's image, the core's size and SHA-256. */
json_t *upload_metadata(const char *uuid, json_t *s);

#endif
