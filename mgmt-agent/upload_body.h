/* upload_body.h: a crash report's multipart/form-data body, produced piece by piece (or a small
 * body given whole, for the same HTTPS client). */
#ifndef AGENT_UPLOAD_BODY_H
#define AGENT_UPLOAD_BODY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct up_body;

/* A body of two parts: metadata (the JSON text given) and core (snapshot snap's ELF core, read
 * from hv in chunks and gzip-compressed as it goes; size bytes, expected SHA-256 sha256). */
struct up_body *up_body_new(const char *snap, const char *metadata, uint64_t size,
                            const char *sha256);
/* A small body given whole (an Event pushed to a subscriber): type is its Content-Type. */
struct up_body *up_body_text(const char *type, const char *text);
/* "multipart/form-data; boundary=..." (or up_body_text's type) */
const char *up_body_type(const struct up_body *b);
/* Up to cap bytes of the body: > 0, 0 at its end, -1 on failure (err names it: hv could not be
 * read, the core is not what its digest says). Never holds more than one chunk of the core. */
ssize_t up_body_read(struct up_body *b, uint8_t *out, size_t cap, char *err, size_t errlen);
/* Core bytes read so far (for progress and throughput). */
uint64_t up_body_core_read(const struct up_body *b);
void up_body_free(struct up_body *b);

#endif
