/* loop.h: the main thread's epoll loop: each watched fd carries the handler to call. */
#ifndef HV_LOOP_H
#define HV_LOOP_H

#include <stdint.h>

struct loop_handler {
    void (*fn)(struct loop_handler *h, uint32_t events);
};

/* Watches fd for `events` (EPOLLIN etc.), calling h->fn; or changes/stops watching. */
int loop_add(int epfd, int fd, uint32_t events, struct loop_handler *h);
int loop_mod(int epfd, int fd, uint32_t events, struct loop_handler *h);
void loop_del(int epfd, int fd);

#endif
