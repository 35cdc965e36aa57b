/* socket.c: the socket system calls (socket, socketpair, send/recv families, options, names,
 * accept) over per-family sock_ops. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

static struct {
    int domain;
    socket_create_fn create;
} families[4];

int socket_register_family(int domain, socket_create_fn create)
{
    for (unsigned i = 0; i < ARRAY_LEN(families); i++) {
        if (!families[i].create || families[i].domain == domain) {
            families[i].domain = domain;
            families[i].create = create;
            return 0;
        }
    }
    return -ENOMEM;
}

void sockaddr_out(struct sockaddr *dst, unsigned *dstlen, const void *src, unsigned srclen)
{
    if (!dst || !dstlen)
        return;
    memcpy(dst, src, *dstlen < srclen ? *dstlen : srclen);
    *dstlen = srclen;
}

#define SOCK(fd)                                                                                   \
    struct file *f = fd_get(fd);                                                                   \
    if (!f)                                                                                        \
        return -EBADF;                                                                             \
    const struct sock_ops *so = f->ops->sock;                                                      \
    if (!so)                                                                                       \
        return -ENOTSOCK;

long sys_socket(int domain, int type, int proto)
{
    int cloexec = !!(type & SOCK_CLOEXEC);
    for (unsigned i = 0; i < ARRAY_LEN(families); i++) {
        if (families[i].create && families[i].domain == domain) {
            struct file *f = NULL;
            long r = families[i].create(type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK), proto, &f);
            if (r < 0)
                return r;
            if (type & SOCK_NONBLOCK)
                f->flags |= O_NONBLOCK;
            return fd_install(f, cloexec);
        }
    }
    return -EAFNOSUPPORT;
}

long sys_socketpair(int domain, int type, int proto, int sv[2])
{
    if (domain != AF_UNIX)
        return -EAFNOSUPPORT;
    struct file *f[2];
    long r = unix_socketpair(type, proto, f);
    if (r < 0)
        return r;
    int cloexec = !!(type & SOCK_CLOEXEC);
    struct file *second = f[1];
    int a = fd_install(f[0], cloexec);
    if (a < 0) {
        file_put(second);
        return a;
    }
    int b = fd_install(second, cloexec);
    if (b < 0) {
        sys_close(a);
        return b;
    }
    sv[0] = a;
    sv[1] = b;
    return 0;
}

static int nonblocking(struct file *f, int flags)
{
    return (f->flags & O_NONBLOCK) || (flags & MSG_DONTWAIT);
}

/* When a blocking call on `f` gives up: its SO_SNDTIMEO/SO_RCVTIMEO from now, or never. */
static uint64_t deadline_of(struct file *f, int sending)
{
    const struct sock_ops *so = f->ops->sock;
    uint64_t t = so->timeout ? so->timeout(f, sending) : 0;
    if (!t)
        return UINT64_MAX;
    uint64_t now = time_mono_ns();
    return t >= UINT64_MAX - 1 - now ? UINT64_MAX - 1 : now + t;
}

/* Waits for `events`: 0, or -EAGAIN once the deadline passed (Linux's timeout result). */
static long wait_for(struct file *f, unsigned events, uint64_t deadline)
{
    return poll_block(f, events, deadline) == -ETIMEDOUT ? -EAGAIN : 0;
}

/* Blocking stream semantics: everything is sent unless non-blocking or timed out. */
static long send_all(struct file *f, const void *buf, size_t len, int flags)
{
    const struct sock_ops *so = f->ops->sock;
    size_t done = 0;
    uint64_t deadline = UINT64_MAX;
    for (int waited = 0;; waited = 1) {
        long r = so->send(f, (const char *)buf + done, len - done, flags);
        if (r > 0)
            done += (size_t)r;
        if (r >= 0 && (done == len || nonblocking(f, flags)))
            return (long)done;
        if (r < 0 && (r != -EAGAIN || nonblocking(f, flags)))
            return done ? (long)done : r;
        if (!waited)
            deadline = deadline_of(f, 1);
        if (wait_for(f, POLLOUT, deadline) < 0)
            return done ? (long)done : -EAGAIN;
    }
}

static long recv_some(struct file *f, void *buf, size_t len, int flags)
{
    const struct sock_ops *so = f->ops->sock;
    size_t done = 0;
    uint64_t deadline = UINT64_MAX;
    for (int waited = 0;; waited = 1) {
        long r = so->recv(f, (char *)buf + done, len - done, flags);
        if (r > 0)
            done += (size_t)r;
        if (r == 0 || (r > 0 && (done == len || !(flags & MSG_WAITALL) || (flags & MSG_PEEK))))
            return (long)done;
        if (r < 0 && (r != -EAGAIN || nonblocking(f, flags)))
            return done ? (long)done : r;
        if (!waited)
            deadline = deadline_of(f, 0);
        if (r < 0 && wait_for(f, POLLIN, deadline) < 0)
            return done ? (long)done : -EAGAIN;
    }
}

/* Datagram sockets: one whole datagram per call, waiting as the socket's mode says. */
static long dgram_send(struct file *f, const struct msghdr *m, int flags)
{
    uint64_t deadline = UINT64_MAX;
    for (int waited = 0;; waited = 1) {
        long r = f->ops->sock->sendmsg(f, m, flags);
        if (r != -EAGAIN || nonblocking(f, flags))
            return r;
        if (!waited)
            deadline = deadline_of(f, 1);
        if (wait_for(f, POLLOUT, deadline) < 0)
            return -EAGAIN;
    }
}

static long dgram_recv(struct file *f, struct msghdr *m, int flags)
{
    uint64_t deadline = UINT64_MAX;
    for (int waited = 0;; waited = 1) {
        long r = f->ops->sock->recvmsg(f, m, flags);
        if (r != -EAGAIN || nonblocking(f, flags))
            return r;
        if (!waited)
            deadline = deadline_of(f, 0);
        if (wait_for(f, POLLIN, deadline) < 0)
            return -EAGAIN;
    }
}

long sys_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *sa,
                unsigned salen)
{
    SOCK(fd);
    if (so->sendmsg) {
        struct iovec v = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
        struct msghdr m = {.msg_name = (void *)(uintptr_t)sa,
                           .msg_namelen = sa ? salen : 0,
                           .msg_iov = &v,
                           .msg_iovlen = 1};
        return dgram_send(f, &m, flags);
    }
    if (sa && salen)
        return -EISCONN; /* connected stream sockets: Linux ignores it there, we refuse to guess */
    return send_all(f, buf, len, flags);
}

long sys_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa, unsigned *salen)
{
    SOCK(fd);
    if (so->recvmsg) {
        struct iovec v = {.iov_base = buf, .iov_len = len};
        struct msghdr m = {.msg_name = salen ? sa : NULL,
                           .msg_namelen = salen ? *salen : 0,
                           .msg_iov = &v,
                           .msg_iovlen = 1};
        long r = dgram_recv(f, &m, flags);
        if (r >= 0 && salen)
            *salen = m.msg_namelen;
        return r;
    }
    long r = recv_some(f, buf, len, flags);
    if (r >= 0 && sa && salen && so->getpeername && so->getpeername(f, sa, salen) < 0)
        *salen = 0;
    return r;
}

long sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
    SOCK(fd);
    if (so->sendmsg)
        return dgram_send(f, m, flags);
    long total = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++) {
        const struct iovec *v = &m->msg_iov[i];
        if (!v->iov_len)
            continue;
        long r = send_all(f, v->iov_base, v->iov_len, total ? flags | MSG_DONTWAIT : flags);
        if (r < 0)
            return total ? total : r;
        total += r;
        if ((size_t)r < v->iov_len)
            break;
    }
    return total;
}

long sys_recvmsg(int fd, struct msghdr *m, int flags)
{
    SOCK(fd);
    if (so->recvmsg) {
        long r = dgram_recv(f, m, flags);
        if (r >= 0)
            m->msg_controllen = 0;
        return r;
    }
    long total = 0;
    for (size_t i = 0; i < (size_t)m->msg_iovlen; i++) {
        const struct iovec *v = &m->msg_iov[i];
        if (!v->iov_len)
            continue;
        long r = recv_some(f, v->iov_base, v->iov_len, total ? flags | MSG_DONTWAIT : flags);
        if (r < 0) {
            if (total)
                break;
            return r;
        }
        total += r;
        if ((size_t)r < v->iov_len || (flags & MSG_PEEK))
            break;
    }
    if (m->msg_name && so->getpeername && so->getpeername(f, m->msg_name, &m->msg_namelen) < 0)
        m->msg_namelen = 0;
    m->msg_controllen = 0;
    m->msg_flags = 0;
    return total;
}

long sys_shutdown(int fd, int how)
{
    SOCK(fd);
    return so->shutdown ? so->shutdown(f, how) : -EOPNOTSUPP;
}

long sys_getsockopt(int fd, int level, int opt, void *val, unsigned *len)
{
    SOCK(fd);
    return so->getsockopt ? so->getsockopt(f, level, opt, val, len) : -ENOPROTOOPT;
}

long sys_setsockopt(int fd, int level, int opt, const void *val, unsigned len)
{
    SOCK(fd);
    return so->setsockopt ? so->setsockopt(f, level, opt, val, len) : -ENOPROTOOPT;
}

long sys_getsockname(int fd, struct sockaddr *sa, unsigned *len)
{
    SOCK(fd);
    return so->getsockname ? so->getsockname(f, sa, len) : -EOPNOTSUPP;
}

long sys_getpeername(int fd, struct sockaddr *sa, unsigned *len)
{
    SOCK(fd);
    return so->getpeername ? so->getpeername(f, sa, len) : -ENOTCONN;
}

long sys_bind(int fd, const struct sockaddr *sa, unsigned len)
{
    SOCK(fd);
    return so->bind ? so->bind(f, sa, len) : -EOPNOTSUPP;
}

long sys_listen(int fd, int backlog)
{
    SOCK(fd);
    return so->listen ? so->listen(f, backlog) : -EOPNOTSUPP;
}

long sys_connect(int fd, const struct sockaddr *sa, unsigned len)
{
    SOCK(fd);
    if (!so->connect)
        return -EOPNOTSUPP;
    long r = so->connect(f, sa, len);
    if (r != -EINPROGRESS || (f->flags & O_NONBLOCK))
        return r;
    if (wait_for(f, POLLOUT, deadline_of(f, 1)) < 0)
        return -EINPROGRESS; /* SO_SNDTIMEO passed: Linux leaves the connect running */
    int err = 0;
    unsigned elen = sizeof err;
    if (so->getsockopt)
        so->getsockopt(f, SOL_SOCKET, SO_ERROR, &err, &elen);
    return -err;
}

long sys_accept4(int fd, struct sockaddr *sa, unsigned *len, int flags)
{
    SOCK(fd);
    if (!so->accept)
        return -EOPNOTSUPP;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    uint64_t deadline = UINT64_MAX;
    for (int waited = 0;; waited = 1) {
        struct file *nf = NULL;
        long r = so->accept(f, &nf, sa, len);
        if (r == 0) {
            if (flags & SOCK_NONBLOCK)
                nf->flags |= O_NONBLOCK;
            return fd_install(nf, !!(flags & SOCK_CLOEXEC));
        }
        if (r != -EAGAIN || (f->flags & O_NONBLOCK))
            return r;
        if (!waited)
            deadline = deadline_of(f, 0);
        if (wait_for(f, POLLIN, deadline) < 0)
            return -EAGAIN;
    }
}
