/* unix.c: socketpair(AF_UNIX, SOCK_STREAM): two connected ends, a bounded byte queue each way. */
#include "svcos.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#define UNIX_BUF (256 * 1024)

struct upair {
    struct ring q[2];    /* q[i]: bytes waiting for end i */
    struct file *end[2]; /* NULL once closed */
    int rd_shut[2], wr_shut[2];
};

static int side(struct file *f)
{
    struct upair *u = f->priv;
    return f == u->end[1];
}

static long u_send(struct file *f, const void *buf, size_t len, int flags)
{
    (void)flags;
    struct upair *u = f->priv;
    int me = side(f), peer = !me;
    if (u->wr_shut[me] || !u->end[peer] || u->rd_shut[peer])
        return -EPIPE;
    if (len == 0)
        return 0;
    size_t n = ring_put(&u->q[peer], buf, len);
    if (n == 0)
        return -EAGAIN;
    file_changed(u->end[peer]);
    return (long)n;
}

static long u_recv(struct file *f, void *buf, size_t len, int flags)
{
    struct upair *u = f->priv;
    int me = side(f), peer = !me;
    struct ring *q = &u->q[me];
    if (len == 0)
        return 0;
    if (!q->len)
        return u->rd_shut[me] || !u->end[peer] || u->wr_shut[peer] ? 0 : -EAGAIN;
    if (flags & MSG_PEEK) {
        struct ring copy = *q; /* ring_get on a copy leaves the queue as it was */
        return (long)ring_get(&copy, buf, len);
    }
    long n = (long)ring_get(q, buf, len);
    file_changed(u->end[peer]);
    return n;
}

static long u_read(struct file *f, void *buf, size_t len)
{
    return u_recv(f, buf, len, 0);
}

static long u_write(struct file *f, const void *buf, size_t len)
{
    return u_send(f, buf, len, 0);
}

static unsigned u_poll(struct file *f)
{
    struct upair *u = f->priv;
    int me = side(f), peer = !me;
    unsigned r = 0;
    int peer_gone = !u->end[peer];
    if (u->q[me].len || u->rd_shut[me] || peer_gone || u->wr_shut[peer])
        r |= POLLIN;
    if (!peer_gone && !u->rd_shut[peer] && !u->wr_shut[me] && ring_space(&u->q[peer]) > 0)
        r |= POLLOUT;
    if (peer_gone || (u->wr_shut[me] && (u->rd_shut[me] || u->wr_shut[peer])))
        r |= POLLHUP;
    if (peer_gone || u->wr_shut[peer])
        r |= POLLRDHUP;
    return r;
}

static long u_shutdown(struct file *f, int how)
{
    struct upair *u = f->priv;
    int me = side(f);
    if (how < SHUT_RD || how > SHUT_RDWR)
        return -EINVAL;
    if (how != SHUT_WR)
        u->rd_shut[me] = 1;
    if (how != SHUT_RD)
        u->wr_shut[me] = 1;
    file_changed(f);
    file_changed(u->end[!me]);
    return 0;
}

static long u_getsockopt(struct file *f, int level, int opt, void *val, unsigned *len)
{
    (void)f;
    if (level != SOL_SOCKET)
        return -EOPNOTSUPP;
    int v;
    switch (opt) {
    case SO_ERROR:
    case SO_ACCEPTCONN:
        v = 0;
        break;
    case SO_TYPE:
        v = SOCK_STREAM;
        break;
    case SO_DOMAIN:
        v = AF_UNIX;
        break;
    case SO_PROTOCOL:
        v = 0;
        break;
    case SO_RCVBUF:
    case SO_SNDBUF:
        v = UNIX_BUF;
        break;
    case SO_PEERCRED: {
        struct ucred c = {.pid = 1, .uid = 0, .gid = 0};
        if (*len < sizeof c)
            return -EINVAL;
        memcpy(val, &c, sizeof c);
        *len = sizeof c;
        return 0;
    }
    default:
        return -ENOPROTOOPT;
    }
    if (*len < sizeof v)
        return -EINVAL;
    memcpy(val, &v, sizeof v);
    *len = sizeof v;
    return 0;
}

static long u_setsockopt(struct file *f, int level, int opt, const void *val, unsigned len)
{
    (void)f, (void)opt, (void)val, (void)len;
    return level == SOL_SOCKET ? 0 : -EOPNOTSUPP; /* like Linux: no TCP options on AF_UNIX */
}

static long u_name(struct file *f, struct sockaddr *sa, unsigned *len)
{
    (void)f;
    sa_family_t fam = AF_UNIX;
    sockaddr_out(sa, len, &fam, sizeof fam);
    return 0;
}

static long u_stat(struct file *f, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFSOCK | 0777;
    st->st_nlink = 1;
    st->st_blksize = 4096;
    st->st_ino = (ino_t)(uintptr_t)f;
    return 0;
}

static long u_ioctl(struct file *f, unsigned long req, void *arg)
{
    struct upair *u = f->priv;
    if (req == FIONREAD) {
        *(int *)arg = (int)u->q[side(f)].len;
        return 0;
    }
    if (req == TIOCOUTQ) {
        *(int *)arg = (int)u->q[!side(f)].len;
        return 0;
    }
    return -ENOTTY;
}

static void u_release(struct file *f)
{
    struct upair *u = f->priv;
    int me = side(f);
    u->end[me] = NULL;
    file_changed(u->end[!me]);
    if (!u->end[!me]) {
        ring_free(&u->q[0]);
        ring_free(&u->q[1]);
        kfree(u);
    }
}

static const struct sock_ops unix_sock_ops = {
    .send = u_send,
    .recv = u_recv,
    .shutdown = u_shutdown,
    .getsockopt = u_getsockopt,
    .setsockopt = u_setsockopt,
    .getsockname = u_name,
    .getpeername = u_name,
};

static const struct file_ops unix_ops = {
    .kind = "socketpair",
    .read = u_read,
    .write = u_write,
    .stat = u_stat,
    .ioctl = u_ioctl,
    .poll = u_poll,
    .release = u_release,
    .sock = &unix_sock_ops,
};

long unix_socketpair(int type, int proto, struct file *out[2])
{
    if ((type & 0xf) != SOCK_STREAM)
        return -EOPNOTSUPP;
    if (proto != 0)
        return -EPROTONOSUPPORT;
    struct upair *u = kzalloc(sizeof *u);
    if (!u)
        return -ENOMEM;
    ring_init(&u->q[0], UNIX_BUF);
    ring_init(&u->q[1], UNIX_BUF);
    int fl = O_RDWR | ((type & SOCK_NONBLOCK) ? O_NONBLOCK : 0);
    u->end[0] = file_new(&unix_ops, fl, u);
    u->end[1] = file_new(&unix_ops, fl, u);
    if (!u->end[0] || !u->end[1]) {
        kfree(u->end[0]);
        kfree(u->end[1]);
        kfree(u);
        return -ENOMEM;
    }
    out[0] = u->end[0];
    out[1] = u->end[1];
    return 0;
}
