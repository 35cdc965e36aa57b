/* console.c: per-VM console buffers; output survives in a ring, input waits in a queue. */
#include "base/console.h"

#include <string.h>
#include <unistd.h>

void console_init(struct console *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->echo_fd = -1;
}

void console_destroy(struct console *c)
{
    pthread_mutex_destroy(&c->lock);
}

static void write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n <= 0)
            return; /* a closed terminal must not stop the VM */
        p += n;
        len -= (size_t)n;
    }
}

void console_output(struct console *c, const void *buf, size_t len, bool echo)
{
    const uint8_t *p = buf;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < len; i++)
        c->ring[(c->total + i) % CONSOLE_RING_SIZE] = p[i];
    c->total += len;
    if (echo && c->echo_fd >= 0)
        write_all(c->echo_fd, p, len);
    pthread_mutex_unlock(&c->lock);
}

size_t console_read_output(struct console *c, uint64_t from, void *buf, size_t max, uint64_t *start,
                           uint64_t *next)
{
    pthread_mutex_lock(&c->lock);
    uint64_t oldest = c->total > CONSOLE_RING_SIZE ? c->total - CONSOLE_RING_SIZE : 0;
    if (from < oldest)
        from = oldest;
    if (from > c->total)
        from = c->total;
    size_t n = (size_t)(c->total - from);
    if (n > max)
        n = max;
    uint8_t *out = buf;
    for (size_t i = 0; i < n; i++)
        out[i] = c->ring[(from + i) % CONSOLE_RING_SIZE];
    *start = from;
    *next = from + n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

uint64_t console_output_total(struct console *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t total = c->total;
    pthread_mutex_unlock(&c->lock);
    return total;
}

size_t console_input_push(struct console *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    pthread_mutex_lock(&c->lock);
    size_t room = CONSOLE_INPUT_SIZE - c->in_len, n = len < room ? len : room;
    for (size_t i = 0; i < n; i++)
        c->in[(c->in_head + c->in_len + i) % CONSOLE_INPUT_SIZE] = p[i];
    c->in_len += (uint32_t)n;
    c->in_dropped += len - n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t console_input_pop(struct console *c, void *buf, size_t max)
{
    uint8_t *out = buf;
    pthread_mutex_lock(&c->lock);
    size_t n = c->in_len < max ? c->in_len : max;
    for (size_t i = 0; i < n; i++)
        out[i] = c->in[(c->in_head + i) % CONSOLE_INPUT_SIZE];
    c->in_head = (uint32_t)((c->in_head + n) % CONSOLE_INPUT_SIZE);
    c->in_len -= (uint32_t)n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t console_input_pending(struct console *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->in_len;
    pthread_mutex_unlock(&c->lock);
    return n;
}
