/* hvlink_unix.c: the hv link over hv's Unix control socket (native runs on Linux). */
#include "hvlink_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct unix_link {
    char path[108];
    int fd;
};

static struct unix_link ul = {.fd = -1};

/* hv answers at once, but a wedged hv must not wedge the agent forever. */
#define IO_TIMEOUT_MS 10000

static int io_all(int fd, uint8_t *p, size_t n, int writing)
{
    while (n) {
        struct pollfd pf = {.fd = fd, .events = writing ? POLLOUT : POLLIN};
        if (poll(&pf, 1, IO_TIMEOUT_MS) <= 0)
            return -1;
        ssize_t r = writing ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int connect_unix(char *err, size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, ul.path, sizeof ul.path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        snprintf(err, errlen, "cannot connect to hv at %s: %s", ul.path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    ul.fd = fd;
    return 0;
}

static int once(const uint8_t *frame, size_t n, struct hv_reply *out, char *err, size_t errlen)
{
    uint8_t hdr[16];
    uint32_t jl, dl;
    if (io_all(ul.fd, (uint8_t *)(uintptr_t)frame, n, 1) || io_all(ul.fd, hdr, sizeof hdr, 0)) {
        snprintf(err, errlen, "hv's control socket closed or timed out");
        return -1;
    }
    if (hvlink_decode(hdr, &jl, &dl)) {
        snprintf(err, errlen, "malformed response header from hv");
        return -1;
    }
    char *js = malloc(jl);
    out->data = dl ? malloc(dl) : NULL;
    if (!js || (dl && !out->data) || io_all(ul.fd, (uint8_t *)js, jl, 0) ||
        (dl && io_all(ul.fd, out->data, dl, 0))) {
        free(js);
        free(out->data);
        out->data = NULL;
        snprintf(err, errlen, "short response from hv");
        return -1;
    }
    out->data_len = dl;
    out->json = json_loadb(js, jl, 0, NULL);
    free(js);
    if (!json_is_object(out->json)) {
        json_decref(out->json);
        free(out->data);
        out->json = NULL;
        out->data = NULL;
        snprintf(err, errlen, "hv's response is not a JSON object");
        return -1;
    }
    return 0;
}

/* One request; reconnects once, so that a restarted hv is picked up again. */
static int unix_call(void *ctx, const json_t *req, const void *data, size_t len,
                     struct hv_reply *out, char *err, size_t errlen)
{
    (void)ctx;
    uint8_t *frame;
    size_t n = hvlink_encode(req, data, len, &frame);
    if (!n) {
        snprintf(err, errlen, "request too large for the control protocol");
        return -1;
    }
    int rc = -1;
    for (int attempt = 0; attempt < 2 && rc; attempt++) {
        if (ul.fd < 0 && connect_unix(err, errlen))
            break;
        rc = once(frame, n, out, err, errlen);
        if (rc) {
            close(ul.fd);
            ul.fd = -1;
        }
    }
    free(frame);
    return rc;
}

static const struct hvlink_ops unix_ops = {.call = unix_call};

int hvlink_open(const char *path, char *err, size_t errlen)
{
    if (strlen(path) >= sizeof ul.path) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return -1;
    }
    snprintf(ul.path, sizeof ul.path, "%s", path);
    hvlink_install(&unix_ops, &ul);
    return connect_unix(err, errlen);
}
