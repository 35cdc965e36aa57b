/* console.h: a VM's console: a bounded output ring with absolute offsets and a bounded input queue.
 */
#ifndef HV_CONSOLE_H
#define HV_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_RING_SIZE  (64u * 1024u) /* output kept per VM */
#define CONSOLE_INPUT_SIZE 4096u         /* typed-ahead input per VM */

struct console {
    pthread_mutex_t lock;
    uint8_t ring[CONSOLE_RING_SIZE];
    uint64_t total; /* bytes ever written; ring holds the last CONSOLE_RING_SIZE */
    uint8_t in[CONSOLE_INPUT_SIZE];
    uint32_t in_head, in_len;
    uint64_t in_dropped; /* input bytes refused because the queue was full */
    int echo_fd;         /* where output also goes while the VM is in the foreground, or -1 */
};

void console_init(struct console *c);
void console_destroy(struct console *c);

/* Appends output; also writes it to echo_fd when `echo` is set. */
void console_output(struct console *c, const void *buf, size_t len, bool echo);

/* Copies output from absolute offset `from` (clamped to what the ring still
 * holds) into buf; returns the bytes copied, *start gets the offset actually
 * used and *next the offset to ask for next time. */
size_t console_read_output(struct console *c, uint64_t from, void *buf, size_t max, uint64_t *start,
                           uint64_t *next);
/* Bytes ever written (the offset the next output byte gets). */
uint64_t console_output_total(struct console *c);

/* Queues input; returns the bytes accepted (the rest is counted as dropped). */
size_t console_input_push(struct console *c, const void *buf, size_t len);
/* Takes up to max queued input bytes. */
size_t console_input_pop(struct console *c, void *buf, size_t max);
size_t console_input_pending(struct console *c);

#endif
