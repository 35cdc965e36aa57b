/* console.c: the VM console as stdin/stdout/stderr (CONSOLE_WRITE/READ hypercalls) and svcos's own
 * log. */
#include "svcos.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

/* Input read from hv but not yet consumed by the program. */
static char inbuf[VIGIL_HC_CONSOLE_MAX];
static size_t in_head, in_len;

void console_init(void)
{
    in_head = in_len = 0;
}

static void vklog(const char *prefix, const char *fmt, va_list ap)
{
    char buf[512];
    size_t p = strlen(prefix);
    memcpy(buf, prefix, p);
    int n = vsnprintf(buf + p, sizeof buf - p - 1, fmt, ap);
    if (n < 0)
        n = 0;
    size_t len = p + ((size_t)n < sizeof buf - p - 1 ? (size_t)n : sizeof buf - p - 2);
    buf[len++] = '\n';
    hv_console_write(buf, len);
}

void klog(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vklog("svcos: ", fmt, ap);
    va_end(ap);
}

void kpanic(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vklog("svcos: panic: ", fmt, ap);
    va_end(ap);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    hv_halt(4, msg);
}

static int fill(void)
{
    if (in_len)
        return 1;
    long n = hv_console_read(inbuf, sizeof inbuf);
    if (n <= 0)
        return 0;
    in_head = 0;
    in_len = (size_t)n;
    return 1;
}

static long con_read(struct file *f, void *buf, size_t len)
{
    (void)f;
    if (len == 0)
        return 0;
    if (!fill())
        return -EAGAIN;
    size_t n = len < in_len ? len : in_len;
    memcpy(buf, inbuf + in_head, n);
    in_head += n;
    in_len -= n;
    return (long)n;
}

static long con_write(struct file *f, const void *buf, size_t len)
{
    (void)f;
    hv_console_write(buf, len);
    return (long)len;
}

static long con_stat(struct file *f, struct stat *st)
{
    (void)f;
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFCHR | 0620;
    st->st_rdev = (5 << 8) | 1; /* like /dev/console */
    st->st_blksize = 4096;
    st->st_nlink = 1;
    st->st_ino = 3;
    return 0;
}

/* Enough of a terminal that musl line-buffers stdout and isatty() is true. */
static long con_ioctl(struct file *f, unsigned long req, void *arg)
{
    (void)f;
    switch (req) {
    case TIOCGWINSZ: {
        struct winsize *ws = arg;
        memset(ws, 0, sizeof *ws);
        ws->ws_row = 25;
        ws->ws_col = 80;
        return 0;
    }
    case TCGETS: {
        struct termios *t = arg;
        memset(t, 0, sizeof *t);
        t->c_iflag = ICRNL;
        t->c_oflag = OPOST | ONLCR;
        t->c_cflag = CS8 | CREAD | B115200;
        t->c_lflag = ICANON | ECHO | ISIG;
        return 0;
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF:
    case TIOCSWINSZ:
        return 0;
    case FIONREAD:
        fill();
        *(int *)arg = (int)in_len;
        return 0;
    default:
        return -ENOTTY;
    }
}

static unsigned con_poll(struct file *f)
{
    (void)f;
    return POLLOUT | (fill() ? POLLIN : 0);
}

static uint64_t con_wake(struct file *f)
{
    (void)f;
    return VIGIL_EV_CONSOLE_IN;
}

const struct file_ops console_ops = {
    .kind = "console",
    .read = con_read,
    .write = con_write,
    .stat = con_stat,
    .ioctl = con_ioctl,
    .poll = con_poll,
    .wake_events = con_wake,
};
