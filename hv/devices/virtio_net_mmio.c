/* virtio_net_mmio.c: the virtio-net card on a VM: its virtio-mmio window, KVM ioeventfds for its
 * queues, irqfd (or the irq line) and WAIT's device event for its interrupt, and one thread that
 * serves the queues and the host backend together. */
#include "devices/virtio_net_mmio.h"

#include "base/log.h"
#include "base/thread.h"
#include "devices/nic.h"
#include "devices/virtio_mmio.h"
#include "vmm/vm.h"
#include "vmm/vm_eventfd.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POLL_MAX  256 /* the device's four descriptors and the backend's */
#define DEV_FDS   4   /* stop, kick rx, kick tx, resample */
#define NQUEUES   2
#define STOP_SLOT 0
#define KICK_SLOT 1
#define RES_SLOT  3

struct vnet_dev {
    struct vm *vm;
    const struct nic_config *cfg;
    /* Serialises the model: vCPU exits, the thread, resets.  Recursive: a backend may hand
     * the guest a reply from inside send (slirp answers ARP so), on the same thread. */
    pthread_mutex_t lock;
    struct virtio_net net;
    struct virtio_mmio mmio;
    struct virtio_dev_ops ops; /* the net model's, with queue_notify kept to the thread */
    const struct virtio_dev_ops *net_ops;
    uint32_t nprotect; /* the policy's read-only ranges the device must not write either */
    struct policy_range protect[POLICY_MAX_PROTECTED];
    int kick_fd[NQUEUES]; /* per queue: KVM's ioeventfd, or written on an MMIO exit */
    int irq_fd;           /* KVM irqfd: the line rises without an ioctl */
    int resample_fd;      /* KVM lowered the line at the guest's EOI */
    int stop_fd;
    bool irqfd, ioeventfd; /* bound in the current KVM VM */
    void *backend;         /* the card's thread's own once it runs */
    _Atomic bool reopen;   /* the machine was released: reopen the backend (nic.h) */
    pthread_t thread;
    bool thread_started;
};

/* The card this thread serves, if any: backend calls must stay on it. */
static _Thread_local struct vnet_dev *serving;

static struct vnet_dev *of_dev(struct virtio_dev *dev)
{
    return (struct vnet_dev *)(void *)((char *)dev - offsetof(struct vnet_dev, net.dev));
}

static void kick(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w;
}

static void drain(int fd)
{
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
}

/* Queue work (TX into the backend, RX buffers for it) runs on the card's thread only: a
 * notification that arrives elsewhere (an MMIO exit, DRIVER_OK on a vCPU) is passed on. */
static bool queue_notify(struct virtio_dev *dev, unsigned q)
{
    struct vnet_dev *d = of_dev(dev);
    if (serving == d)
        return d->net_ops->queue_notify(dev, q);
    if (q < NQUEUES)
        kick(d->kick_fd[q]);
    return false;
}

static void backend_send(void *ctx, const struct iovec *iov, unsigned n)
{
    struct vnet_dev *d = ctx;
    if (d->backend) /* none after a failed reopen: the frame is dropped */
        d->cfg->backend->send(d->backend, iov, n);
}

static void backend_rx_ready(void *ctx)
{
    struct vnet_dev *d = ctx;
    if (d->backend && d->cfg->backend->rx_ready)
        d->cfg->backend->rx_ready(d->backend);
}

static const struct net_backend_ops to_backend = {backend_send, backend_rx_ready};

static enum vnet_rx port_receive(void *dev, const void *frame, size_t len)
{
    struct vnet_dev *d = dev;
    pthread_mutex_lock(&d->lock);
    enum vnet_rx r = virtio_net_receive(&d->net, frame, len);
    pthread_mutex_unlock(&d->lock);
    return r;
}

/* The line: through the irqfd where the VM has an in-kernel irqchip (level-triggered: KVM
 * lowers it at EOI and the thread raises it again while InterruptStatus is set). */
static void irq(void *ctx, bool level)
{
    struct vnet_dev *d = ctx;
    if (d->irqfd) {
        if (level)
            kick(d->irq_fd);
    } else {
        vm_irq_line(d->vm, VNET_MMIO_IRQ, level);
    }
}

/* Every interrupt also wakes a vCPU sleeping in WAIT for VIGIL_EV_DEVICE (hv's guests run
 * with interrupts off). */
static void notify(void *ctx)
{
    struct vnet_dev *d = ctx;
    vm_raise_event(d->vm, VIGIL_EV_DEVICE);
}

static void on_error(void *ctx, const char *reason)
{
    struct vnet_dev *d = ctx;
    const struct vmm_hooks *h = d->vm->hv->hooks;
    if (h && h->device_error)
        h->device_error(d->vm, "virtio-net", reason);
    else
        log_warn("%s: %s", d->vm->name, reason);
}

static bool may_write(void *ctx, uint64_t gpa, uint64_t len)
{
    struct vnet_dev *d = ctx;
    for (uint32_t i = 0; i < d->nprotect; i++)
        if (gpa < d->protect[i].gpa + d->protect[i].len && d->protect[i].gpa < gpa + len)
            return false;
    return true;
}

/* On the card's thread: the old machine's connections go with the old backend (nic.h). */
static void reopen_backend(struct vnet_dev *d)
{
    const struct nic_backend_ops *be = d->cfg->backend;
    char why[256];
    be->close(d->backend);
    d->backend = NULL;
    if (be->open(d->cfg, d->vm->name, (struct nic_port){port_receive, d}, &d->backend, why,
                 sizeof why) < 0)
        log_error("%s: virtio-net: --net %s: reopening after a reset: %s (the card has no host "
                  "side now)",
                  d->vm->name, d->cfg->spec, why);
    else
        log_info("%s: virtio-net: host side reopened: the old machine's connections are closed",
                 d->vm->name);
}

static void *thread_main(void *arg)
{
    struct vnet_dev *d = arg;
    const struct nic_backend_ops *be = d->cfg->backend;
    struct pollfd fds[POLL_MAX];
    serving = d;
    for (;;) {
        fds[STOP_SLOT] = (struct pollfd){.fd = d->stop_fd, .events = POLLIN};
        for (unsigned q = 0; q < NQUEUES; q++)
            fds[KICK_SLOT + q] = (struct pollfd){.fd = d->kick_fd[q], .events = POLLIN};
        fds[RES_SLOT] = (struct pollfd){.fd = d->resample_fd, .events = POLLIN};
        pthread_mutex_lock(&d->lock);
        int timeout = d->net.dev.more_work ? 0 : -1; /* a refilling driver had its budget */
        pthread_mutex_unlock(&d->lock);
        unsigned nb =
            d->backend ? be->poll_fill(d->backend, fds + DEV_FDS, POLL_MAX - DEV_FDS, &timeout) : 0;
        for (unsigned i = 0; i < DEV_FDS + nb; i++)
            fds[i].revents = 0;
        if (poll(fds, DEV_FDS + nb, timeout) < 0 && errno != EINTR) {
            log_error("%s: virtio-net: poll: %s", d->vm->name, strerror(errno));
            usleep(10000);
        }
        if (fds[STOP_SLOT].revents)
            break;
        if (atomic_exchange(&d->reopen, false)) {
            reopen_backend(d);
            continue; /* fds[] named the old backend's descriptors; kicks stay readable */
        }
        pthread_mutex_lock(&d->lock);
        for (unsigned q = 0; q < NQUEUES; q++) {
            bool kicked = fds[KICK_SLOT + q].revents & POLLIN;
            if (kicked)
                drain(d->kick_fd[q]);
            if (kicked || (d->net.dev.more_work & (1u << q)))
                virtio_queue_notify(&d->net.dev, q);
        }
        if (fds[RES_SLOT].revents & POLLIN) {
            drain(d->resample_fd);
            if (d->irqfd && d->mmio.irq_level)
                kick(d->irq_fd);
        }
        pthread_mutex_unlock(&d->lock);
        if (d->backend)
            be->poll_done(d->backend, fds + DEV_FDS, nb);
    }
    serving = NULL;
    return NULL;
}

static void destroy(void *ctx)
{
    struct vnet_dev *d = ctx;
    if (d->thread_started) {
        kick(d->stop_fd);
        pthread_join(d->thread, NULL);
    }
    if (d->backend)
        d->cfg->backend->close(d->backend);
    int *fds[] = {&d->kick_fd[0], &d->kick_fd[1], &d->irq_fd, &d->resample_fd, &d->stop_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static int create(struct vm *vm, void **ctx, char *err, size_t errlen)
{
    const struct nic_config *cfg = vm->cfg.nic;
    if (!cfg || !cfg->backend) {
        snprintf(err, errlen, "virtio-net: no host side (--net) for this card");
        return -1;
    }
    if (vm->mem_size > VNET_MMIO_BASE) {
        snprintf(err, errlen,
                 "virtio-net: %llu MiB of RAM reach its window at 0x%llx: at most %llu",
                 (unsigned long long)(vm->mem_size >> 20), VNET_MMIO_BASE, VNET_MMIO_BASE >> 20);
        return -1;
    }
    struct vnet_dev *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "virtio-net: out of memory");
        return -1;
    }
    d->vm = vm;
    d->cfg = cfg;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&d->lock, &a);
    pthread_mutexattr_destroy(&a);
    int *fds[] = {&d->kick_fd[0], &d->kick_fd[1], &d->irq_fd, &d->resample_fd, &d->stop_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        *fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] < 0) {
            snprintf(err, errlen, "virtio-net: eventfd: %s", strerror(errno));
            destroy(d);
            return -1;
        }
    /* No RAM until the machine is built (reset). */
    struct virtio_net_params p = {.mtu = cfg->mtu};
    memcpy(p.mac, cfg->mac, sizeof p.mac);
    virtio_net_init(&d->net, &p, &(struct guest_mem){0}, &to_backend, d);
    d->net_ops = d->net.dev.ops;
    d->ops = *d->net_ops;
    d->ops.queue_notify = queue_notify;
    d->net.dev.ops = &d->ops;
    virtio_set_error_handler(&d->net.dev, on_error, d);
    virtio_mmio_init(&d->mmio, &d->net.dev, irq, d);
    d->mmio.notify = notify;
    char why[256];
    if (cfg->backend->open(cfg, vm->name, (struct nic_port){port_receive, d}, &d->backend, why,
                           sizeof why) < 0) {
        snprintf(err, errlen, "virtio-net: --net %s: %s", cfg->spec, why);
        destroy(d);
        return -1;
    }
    int rc = hv_thread_create(&d->thread, thread_main, d);
    if (rc) {
        snprintf(err, errlen, "virtio-net: cannot start its thread: %s", strerror(rc));
        destroy(d);
        return -1;
    }
    d->thread_started = true;
    log_info("%s: virtio-net at 0x%llx (irq %u), %s", vm->name, VNET_MMIO_BASE, VNET_MMIO_IRQ,
             cfg->spec);
    *ctx = d;
    return 0;
}

static void io(void *ctx, struct vcpu *v, const struct dev_io *io)
{
    struct vnet_dev *d = ctx;
    (void)v;
    uint64_t off = io->addr - VNET_MMIO_BASE, value = 0;
    unsigned size = io->size <= sizeof value ? io->size : 0;
    pthread_mutex_lock(&d->lock);
    if (io->write) {
        memcpy(&value, io->data, size); /* x86: the guest's bytes are little-endian already */
        virtio_mmio_write(&d->mmio, off, size, value);
    } else {
        value = virtio_mmio_read(&d->mmio, off, size);
        memcpy(io->data, &value, size);
    }
    pthread_mutex_unlock(&d->lock);
}

/* The machine is new: the card starts from power-on over the new RAM, and its eventfds are
 * bound in the new KVM VM (a failure only costs the exits they would have saved). */
static void reset(void *ctx)
{
    struct vnet_dev *d = ctx;
    struct vm *vm = d->vm;
    pthread_mutex_lock(&d->lock);
    d->nprotect = 0;
    if (vm->role == VIGIL_ROLE_GUEST && vm->hv->traps_armed) {
        struct policy_params pp;
        policy_get_params(&vm->hv->policy, &pp);
        d->nprotect = pp.nprotected;
        memcpy(d->protect, pp.protected_ranges, sizeof d->protect);
    }
    struct guest_mem mem = {vm->mem, vm->mem_size, d->nprotect ? may_write : NULL, d};
    virtio_set_mem(&d->net.dev, &mem);
    virtio_mmio_write(&d->mmio, VIRTIO_MMIO_STATUS, 4, 0);
    int rc = 0;
    for (unsigned q = 0; q < NQUEUES && !rc; q++)
        rc = vm_ioeventfd(vm, VNET_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, d->kick_fd[q], true);
    d->ioeventfd = !rc;
    if (rc) {
        log_warn("%s: virtio-net: KVM_IOEVENTFD: %s (queue notifications exit instead)", vm->name,
                 strerror(-rc));
        vm_ioeventfd(vm, VNET_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY, 4, 0, d->kick_fd[0], false);
    }
    d->irqfd = vm->irqchip && vm_irqfd(vm, VNET_MMIO_IRQ, d->irq_fd, d->resample_fd, true) == 0;
    log_debug("%s: virtio-net: ioeventfd %s, interrupt by %s", vm->name,
              d->ioeventfd ? "on" : "off",
              d->irqfd ? "irqfd" : (vm->irqchip ? "KVM_IRQ_LINE" : "WAIT only"));
    pthread_mutex_unlock(&d->lock);
}

/* The machine goes: unbind from the KVM VM and forget its RAM (the backend's frames are
 * dropped meanwhile: the card is in reset). */
static void release(void *ctx)
{
    struct vnet_dev *d = ctx;
    struct vm *vm = d->vm;
    pthread_mutex_lock(&d->lock);
    if (d->ioeventfd)
        for (unsigned q = 0; q < NQUEUES; q++)
            vm_ioeventfd(vm, VNET_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, d->kick_fd[q], false);
    if (d->irqfd)
        vm_irqfd(vm, VNET_MMIO_IRQ, d->irq_fd, -1, false);
    d->ioeventfd = d->irqfd = false;
    virtio_set_mem(&d->net.dev, &(struct guest_mem){0});
    pthread_mutex_unlock(&d->lock);
    if (d->cfg->backend->reopen_on_reset) { /* the thread does it: backend calls are its own */
        atomic_store(&d->reopen, true);
        kick(d->kick_fd[0]);
    }
}

const struct dev_model virtio_net_mmio_device = {
    .name = "virtio-net",
    .ranges = (const struct dev_range[]){{DEV_MMIO, VNET_MMIO_BASE,
                                          VNET_MMIO_BASE + VIRTIO_MMIO_SIZE - 1}},
    .nranges = 1,
    .create = create,
    .destroy = destroy,
    .io = io,
    .reset = reset,
    .release = release,
    .boot = &(const struct vigil_boot_device){.type = VIGIL_DEV_VIRTIO_MMIO,
                                              .id = VIRTIO_ID_NET,
                                              .base = VNET_MMIO_BASE,
                                              .size = VIRTIO_MMIO_SIZE,
                                              .irq = VNET_MMIO_IRQ},
};
