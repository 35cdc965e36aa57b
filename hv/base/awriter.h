/* awriter.h: an ordered byte queue that a thread of its own writes to a slow fd (a terminal). */
#ifndef HV_AWRITER_H
#define HV_AWRITER_H

#include <stddef.h>
#include <stdint.h>

struct awriter;

/* Starts the writer thread for fd (which stays the caller's).  Returns 0, or an errno value. */
int awriter_open(struct awriter **out, int fd);
/* Queues a copy of buf; never blocks on fd.  A buffer that does not fit in what is left of the
 * queue (64 KiB) is dropped whole and counted.  Thread-safe; bytes reach fd in the order
 * queued. */
void awriter_write(struct awriter *w, const void *buf, size_t len);
/* Waits until everything queued so far has been written (or has failed). */
void awriter_flush(struct awriter *w);
/* Bytes dropped so far because the queue was full. */
uint64_t awriter_dropped(struct awriter *w);
/* Writes what is queued, stops the thread and frees w (NULL is ignored). */
void awriter_close(struct awriter *w);

#endif
