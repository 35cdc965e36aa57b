/* tcp_io.c: TCP data both ways with backpressure: received pbufs wait for the program (the window
 * opens only as it reads); writes take what tcp_sndbuf allows. */
#include "tcp.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

err_t tsock_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    (void)err;
    struct tsock *t = arg;
    if (!p) { /* the peer's FIN */
        t->rx_eof = 1;
        /* Both directions are done: lwIP finishes the close on its own (a pcb in TIME_WAIT
         * may be freed without a callback, so we must not keep it). */
        if (t->tx_shut) {
            tsock_release_pcb(t);
            t->state = TS_CLOSED;
        }
        ns_changed(t->s.file);
        return ERR_OK;
    }
    if (t->rd_shut) { /* shutdown(SHUT_RD): Linux keeps acknowledging and drops the data */
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    }
    t->rx_len += p->tot_len;
    if (t->rx_tail)
        t->rx_tail->next = p;
    else
        t->rx_head = p;
    while (p->next)
        p = p->next;
    t->rx_tail = p;
    ns_changed(t->s.file);
    return ERR_OK;
}

/* Tells lwIP the program took n bytes: the window reopens. */
static void window_open(struct tsock *t, size_t n)
{
    while (t->pcb && n) {
        u16_t step = n > 0xffff ? 0xffff : (u16_t)n;
        tcp_recved(t->pcb, step);
        n -= step;
    }
}

/* Copies (or only counts, buf NULL) up to len unread bytes; consumes them unless peeking. */
static size_t take(struct tsock *t, void *buf, size_t len, int peek)
{
    size_t done = 0, off = t->rx_off;
    struct pbuf *p = t->rx_head;
    while (p && done < len) {
        size_t n = p->len - off < len - done ? p->len - off : len - done;
        if (buf)
            memcpy((char *)buf + done, (const char *)p->payload + off, n);
        done += n;
        off += n;
        if (off == p->len) {
            struct pbuf *next = p->next;
            if (!peek) {
                p->next = NULL;
                pbuf_free(p);
                t->rx_head = next;
            }
            p = next;
            off = 0;
        }
    }
    if (!peek) {
        t->rx_off = off;
        t->rx_len -= done;
        if (!t->rx_head)
            t->rx_tail = NULL;
        window_open(t, done);
        nic_flush_all(); /* a window update may have gone out */
    }
    return done;
}

long ts_recv(struct file *f, void *buf, size_t len, int flags)
{
    struct tsock *t = f->priv;
    if (flags & MSG_OOB)
        return -EINVAL; /* no urgent data, ever */
    if (t->state == TS_LISTEN || t->state == TS_NEW || t->state == TS_BOUND)
        return -ENOTCONN;
    if (!len)
        return 0;
    if (!t->rx_len && !t->rx_eof && !t->rd_shut && t->state != TS_CLOSED)
        netstack_pump(); /* progress for programs that retry without waiting */
    if (t->rx_len)       /* MSG_TRUNC on TCP: discard instead of copying, as Linux */
        return (long)take(t, (flags & MSG_TRUNC) ? NULL : buf, len, !!(flags & MSG_PEEK));
    /* Data first, then the error that ended the connection (once), then end of file. */
    int e = nsock_take_err(&t->s);
    if (e)
        return -e;
    if (t->rx_eof || t->rd_shut || t->state == TS_CLOSED)
        return 0;
    return -EAGAIN;
}

long ts_send(struct file *f, const void *buf, size_t len, int flags)
{
    struct tsock *t = f->priv;
    if (flags & MSG_OOB)
        return -EOPNOTSUPP;
    int e = nsock_take_err(&t->s);
    if (e)
        return -e;
    if (t->state == TS_CONNECTING)
        return -EAGAIN; /* blocking callers wait for the connection, as on Linux */
    if (t->state != TS_CONNECTED || t->tx_shut || !t->pcb)
        return -EPIPE;
    size_t done = 0;
    for (int pumped = 0;;) {
        while (t->pcb && done < len) {
            u32_t room = t->pcb->snd_buf; /* tcp_sndbuf() stops at 64 KiB */
            if (!room)
                break;
            size_t n = len - done;
            if (n > room)
                n = room;
            if (n > 0xffff)
                n = 0xffff;
            u8_t wflags = TCP_WRITE_FLAG_COPY | ((flags & MSG_MORE) ? TCP_WRITE_FLAG_MORE : 0);
            err_t err = tcp_write(t->pcb, (const char *)buf + done, (u16_t)n, wflags);
            if (err == ERR_MEM)
                break; /* the segment queue is full: wait for acknowledgements */
            if (err != ERR_OK)
                return done ? (long)done : -ns_errno(err);
            done += n;
        }
        if (done && t->pcb) {
            tcp_output(t->pcb);
            nic_flush_all();
        }
        if (done || pumped || !t->pcb)
            break;
        /* Nothing fitted: acknowledgements may be waiting in the loop already. */
        netstack_pump();
        pumped = 1;
    }
    if (done)
        return (long)done;
    e = nsock_take_err(&t->s);
    if (e)
        return -e;
    return t->pcb ? -EAGAIN : -EPIPE;
}

long ts_read(struct file *f, void *buf, size_t len)
{
    return ts_recv(f, buf, len, 0);
}

long ts_write(struct file *f, const void *buf, size_t len)
{
    return ts_send(f, buf, len, 0);
}
