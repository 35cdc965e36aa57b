/* ctl_server.h: the local control socket (a Unix stream socket) carrying control-protocol messages.
 */
#ifndef HV_CTL_SERVER_H
#define HV_CTL_SERVER_H

#include "vmm/hv.h"

#include <stddef.h>

struct ctl_server;

/* Listens on `path` (mode 0600), serving clients from the epoll loop epfd. */
int ctl_server_open(struct ctl_server **out, struct hv *hv, const char *path, int epfd, char *err,
                    size_t errlen);
void ctl_server_close(struct ctl_server *s);

#endif
