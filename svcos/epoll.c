/* epoll.c: epoll_create1/ctl/wait/pwait over every descriptor kind, level- and edge-triggered,
 * EPOLLONESHOT. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>

struct epitem {
    struct ep *ep;
    int fd;
    struct file *f; /* not a reference: closing the file removes the item (epoll_forget) */
    uint32_t events;
    epoll_data_t data;
    uint64_t last_gen;
    int reported, disabled;
    struct epitem *next;         /* in the epoll set */
    struct epitem *next_in_file; /* in f->watchers */
};

struct ep {
    struct epitem *items;
    struct file *self;
};

static void unlink_item(struct epitem *it)
{
    struct epitem **pp;
    for (pp = &it->ep->items; *pp && *pp != it; pp = &(*pp)->next)
        ;
    if (*pp)
        *pp = it->next;
    for (pp = &it->f->watchers; *pp && *pp != it; pp = &(*pp)->next_in_file)
        ;
    if (*pp)
        *pp = it->next_in_file;
    kfree(it);
}

void epoll_forget(struct file *f)
{
    while (f->watchers)
        unlink_item(f->watchers);
}

static unsigned item_ready(struct epitem *it)
{
    unsigned r = file_poll(it->f);
    if (r & POLLIN)
        r |= POLLRDNORM;
    if (r & POLLOUT)
        r |= POLLWRNORM;
    return r & (it->events | EPOLLERR | EPOLLHUP);
}

/* Collects up to `max` events; 0 if none is ready.  *wake gets the hv events to wait for. */
static int collect(struct ep *ep, struct epoll_event *out, int max, uint64_t *wake)
{
    int n = 0;
    for (struct epitem *it = ep->items; it && n < max; it = it->next) {
        if (it->disabled)
            continue;
        if (it->f->ops->wake_events)
            *wake |= it->f->ops->wake_events(it->f);
        unsigned r = item_ready(it);
        if (!r)
            continue;
        if ((it->events & EPOLLET) && it->reported && it->last_gen == it->f->gen)
            continue;
        it->reported = 1;
        it->last_gen = it->f->gen;
        if (it->events & EPOLLONESHOT)
            it->disabled = 1;
        if (out) {
            out[n].events = r;
            out[n].data = it->data;
        }
        n++;
    }
    return n;
}

static unsigned ep_poll(struct file *f)
{
    struct ep *ep = f->priv;
    for (struct epitem *it = ep->items; it; it = it->next)
        if (!it->disabled && item_ready(it) &&
            !((it->events & EPOLLET) && it->reported && it->last_gen == it->f->gen))
            return POLLIN;
    return 0;
}

static uint64_t ep_wake(struct file *f)
{
    struct ep *ep = f->priv;
    uint64_t wake = 0;
    for (struct epitem *it = ep->items; it; it = it->next)
        if (it->f->ops->wake_events)
            wake |= it->f->ops->wake_events(it->f);
    return wake;
}

static void ep_release(struct file *f)
{
    struct ep *ep = f->priv;
    while (ep->items)
        unlink_item(ep->items);
    kfree(ep);
}

static long ep_stat(struct file *f, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = 0600;
    st->st_nlink = 1;
    st->st_ino = (ino_t)(uintptr_t)f;
    return 0;
}

static const struct file_ops epoll_ops = {
    .kind = "epoll",
    .stat = ep_stat,
    .poll = ep_poll,
    .wake_events = ep_wake,
    .release = ep_release,
};

long sys_epoll_create1(int flags)
{
    if (flags & ~EPOLL_CLOEXEC)
        return -EINVAL;
    struct ep *ep = kzalloc(sizeof *ep);
    if (!ep)
        return -ENOMEM;
    struct file *f = file_new(&epoll_ops, O_RDWR, ep);
    if (!f) {
        kfree(ep);
        return -ENOMEM;
    }
    ep->self = f;
    return fd_install(f, !!(flags & EPOLL_CLOEXEC));
}

long sys_epoll_create(int size)
{
    return size <= 0 ? -EINVAL : sys_epoll_create1(0);
}

long sys_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    struct file *ef = fd_get(epfd), *f = fd_get(fd);
    if (!ef || !f)
        return -EBADF;
    if (ef->ops != &epoll_ops || ef == f)
        return -EINVAL;
    if (!f->ops->poll)
        return -EPERM; /* regular files and directories, as on Linux */
    struct ep *ep = ef->priv;
    struct epitem *it;
    for (it = ep->items; it && !(it->f == f && it->fd == fd); it = it->next)
        ;
    switch (op) {
    case EPOLL_CTL_ADD:
        if (it)
            return -EEXIST;
        it = kzalloc(sizeof *it);
        if (!it)
            return -ENOMEM;
        it->ep = ep;
        it->fd = fd;
        it->f = f;
        it->events = ev->events;
        it->data = ev->data;
        it->next = ep->items;
        ep->items = it;
        it->next_in_file = f->watchers;
        f->watchers = it;
        return 0;
    case EPOLL_CTL_MOD:
        if (!it)
            return -ENOENT;
        it->events = ev->events;
        it->data = ev->data;
        it->disabled = 0;
        it->reported = 0;
        return 0;
    case EPOLL_CTL_DEL:
        if (!it)
            return -ENOENT;
        unlink_item(it);
        return 0;
    default:
        return -EINVAL;
    }
}

static long ep_wait(int epfd, struct epoll_event *out, int max, uint64_t deadline)
{
    struct file *ef = fd_get(epfd);
    if (!ef)
        return -EBADF;
    if (ef->ops != &epoll_ops || max <= 0)
        return -EINVAL;
    struct ep *ep = ef->priv;
    loop_poll_sources(); /* as in poll: input that arrived meanwhile counts */
    for (;;) {
        uint64_t wake = 0;
        int n = collect(ep, out, max, &wake);
        if (n || deadline == 0 || (deadline != UINT64_MAX && time_mono_ns() >= deadline))
            return n;
        if (!wake && deadline == UINT64_MAX)
            kpanic("deadlock: epoll_wait waits forever for descriptors only this program could "
                   "make ready");
        loop_wait(deadline, wake & ~WAKE_LOOP);
    }
}

long sys_epoll_pwait(int epfd, struct epoll_event *out, int max, int timeout_ms, const void *sig,
                     size_t sigsz)
{
    (void)sig, (void)sigsz;
    uint64_t deadline = timeout_ms < 0    ? UINT64_MAX
                        : timeout_ms == 0 ? 0
                                          : time_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    return ep_wait(epfd, out, max, deadline);
}

long sys_epoll_wait(int epfd, struct epoll_event *out, int max, int timeout_ms)
{
    return sys_epoll_pwait(epfd, out, max, timeout_ms, NULL, 0);
}

long sys_epoll_pwait2(int epfd, struct epoll_event *out, int max, const struct timespec *ts,
                      const void *sig, size_t sigsz)
{
    (void)sig, (void)sigsz;
    uint64_t deadline;
    long r = ts_to_deadline(ts, &deadline);
    if (r < 0)
        return r;
    return ep_wait(epfd, out, max, deadline);
}
