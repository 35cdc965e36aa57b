/* tap_backend.c: the card on a host TAP interface: frames go to the host's network stack (and from
 * there to a bridge, see docs/virtio-net.md), a frame the guest has no buffer for waits, and so
 * does the TAP behind it. */
#include "base/log.h"
#include "net/backends.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define TAP_FRAME_MAX  (65535 + 18) /* an IP packet of any size, Ethernet header and a VLAN tag */
#define TAP_RX_PER_RUN 64           /* frames per wake-up, so that TX gets its turn */

struct tap {
    int fd;
    struct nic_port port;
    char vm[32], ifname[IFNAMSIZ];
    bool pending; /* frame[0..len) waits for a receive buffer */
    size_t len;
    uint64_t tx_dropped, rx_too_big;
    uint8_t frame[TAP_FRAME_MAX];
};

static int tap_open(const struct nic_config *cfg, const char *vm_name, struct nic_port port,
                    void **ctx, char *err, size_t errlen)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", cfg->ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        snprintf(err, errlen, "TAP %s: %s%s", cfg->ifname, strerror(e),
                 e == EPERM ? " (creating one needs CAP_NET_ADMIN; or make it persistent for this "
                              "user first: ip tuntap add NAME mode tap user USER)"
                            : "");
        close(fd);
        return -1;
    }
    struct tap *t = calloc(1, sizeof *t);
    if (!t) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->fd = fd;
    t->port = port;
    snprintf(t->vm, sizeof t->vm, "%s", vm_name);
    snprintf(t->ifname, sizeof t->ifname, "%s", ifr.ifr_name);
    *ctx = t;
    return 0;
}

static void tap_close(void *ctx)
{
    struct tap *t = ctx;
    close(t->fd);
    free(t);
}

static unsigned tap_poll_fill(void *ctx, struct pollfd *fds, unsigned max, int *timeout_ms)
{
    struct tap *t = ctx;
    (void)timeout_ms;
    if (t->pending || !max)
        return 0; /* the guest has no buffer: the kernel queues (and at length drops) for us */
    fds[0] = (struct pollfd){.fd = t->fd, .events = POLLIN};
    return 1;
}

/* Offers the waiting frame; false if it must wait on. */
static bool deliver(struct tap *t)
{
    enum vnet_rx r = t->port.receive(t->port.dev, t->frame, t->len);
    if (r == VNET_RX_NO_BUFFER)
        return false;
    if (r == VNET_RX_TOO_BIG && t->rx_too_big++ % 1000 == 0)
        log_warn("%s: tap %s: a %zu-byte frame is larger than the guest's MTU or buffers "
                 "(dropped; %llu so far)",
                 t->vm, t->ifname, t->len, (unsigned long long)t->rx_too_big);
    t->pending = false;
    return true;
}

static void tap_poll_done(void *ctx, const struct pollfd *fds, unsigned n)
{
    struct tap *t = ctx;
    (void)fds, (void)n;
    if (t->pending && !deliver(t))
        return;
    for (int i = 0; i < TAP_RX_PER_RUN; i++) {
        ssize_t r = read(t->fd, t->frame, sizeof t->frame);
        if (r <= 0)
            return; /* EAGAIN: nothing more now */
        t->len = (size_t)r;
        t->pending = true;
        if (!deliver(t))
            return;
    }
}

static void tap_send(void *ctx, const struct iovec *iov, unsigned n)
{
    struct tap *t = ctx;
    /* One frame per writev; a full TAP queue drops it, as a wire would. */
    if (writev(t->fd, iov, (int)n) < 0 && t->tx_dropped++ % 1000 == 0)
        log_debug("%s: tap %s: frame dropped: %s", t->vm, t->ifname, strerror(errno));
}

static void tap_rx_ready(void *ctx)
{
    (void)ctx; /* poll_done, which runs after every wake-up, offers the waiting frame again */
}

const struct nic_backend_ops nic_tap_backend = {
    .name = "tap",
    .open = tap_open,
    .close = tap_close,
    .poll_fill = tap_poll_fill,
    .poll_done = tap_poll_done,
    .send = tap_send,
    .rx_ready = tap_rx_ready,
};
