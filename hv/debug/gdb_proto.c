/* gdb_proto.c: GDB remote protocol framing ($...#xx, acks, escapes, ^C) and packet dispatch. */
#include "debug/gdb_int.h"

#include <stdio.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

const char *gdb_parse_hex(const char *p, const char *end, const char *end_at, uint64_t *v)
{
    uint64_t x = 0;
    int digits = 0;
    while (p < end && !strchr(end_at, *p)) {
        int d = hexval(*p);
        if (d < 0 || ++digits > 16) /* more than 64 bits: refused, not truncated */
            return NULL;
        x = x << 4 | (uint64_t)d;
        p++;
    }
    if (!digits)
        return NULL;
    *v = x;
    return p;
}

bool gdb_hex_decode(const char *p, size_t n, uint8_t *out)
{
    if (n % 2)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void gdb_hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[in[i] >> 4];
        out[2 * i + 1] = hexdig[in[i] & 15];
    }
}

void gdb_reply_n(struct gdb_session *s, const char *p, size_t n)
{
    char *o = s->last;
    size_t cap = sizeof s->last - 3, len = 0;
    uint8_t sum = 0;
    o[len++] = '$';
    for (size_t i = 0; i < n && len + 2 < cap; i++) {
        char c = p[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') { /* '*' would read as run-length */
            o[len++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        o[len++] = c;
        sum += (uint8_t)c;
    }
    o[len++] = '#';
    o[len++] = hexdig[sum >> 4];
    o[len++] = hexdig[sum & 15];
    s->last_len = len;
    s->t->send(s->t->ctx, o, len);
}

void gdb_reply(struct gdb_session *s, const char *p)
{
    gdb_reply_n(s, p, strlen(p));
}

void gdb_reply_error(struct gdb_session *s, const char *code)
{
    s->errors++;
    gdb_reply(s, code);
}

void gdb_reply_stop(struct gdb_session *s)
{
    char buf[48];
    snprintf(buf, sizeof buf, "T%02xthread:%x;", (unsigned)s->stop_sig & 0xff,
             (unsigned)s->stop_thread);
    gdb_reply(s, buf);
}

void gdb_session_init(struct gdb_session *s, const struct gdb_target *t)
{
    memset(s, 0, sizeof *s);
    s->t = t;
    s->g_thread = s->c_thread = s->stop_thread = 1;
    s->stop_sig = GDB_SIGTRAP;
}

/* A thread id as H and T give it: -1 (all), 0 (any) or 1..nthreads; hex. */
static bool parse_thread(struct gdb_session *s, const char *p, const char *end, int *tid)
{
    if (end - p == 2 && p[0] == '-' && p[1] == '1') {
        *tid = -1;
        return true;
    }
    uint64_t v;
    if (gdb_parse_hex(p, end, "", &v) != end || v > (uint64_t)s->t->nthreads)
        return false;
    *tid = (int)v;
    return true;
}

static void cmd_thread_select(struct gdb_session *s, const char *p, size_t n)
{
    int tid;
    if (n < 2 || (p[0] != 'g' && p[0] != 'c') || !parse_thread(s, p + 1, p + n, &tid)) {
        gdb_reply_error(s, GDB_E_INVAL);
        return;
    }
    if (tid <= 0) /* "any" or "all": the thread that stopped */
        tid = s->stop_thread;
    if (p[0] == 'g')
        s->g_thread = tid;
    else
        s->c_thread = tid;
    gdb_reply(s, "OK");
}

static void cmd_thread_alive(struct gdb_session *s, const char *p, size_t n)
{
    int tid;
    gdb_reply(s, parse_thread(s, p, p + n, &tid) && tid > 0 ? "OK" : GDB_E_INVAL);
}

static void cmd_query(struct gdb_session *s, const char *p, size_t n)
{
    char buf[GDB_MAX_THREADS * 3 + 8];
    (void)n;
    if (!strncmp(p, "qSupported", 10)) {
        snprintf(buf, sizeof buf, "PacketSize=%x;QStartNoAckMode+;vContSupported+", GDB_PACKET_MAX);
        gdb_reply(s, buf);
    } else if (!strcmp(p, "qAttached")) {
        gdb_reply(s, "1"); /* attached to a running machine: gdb detaches on quit, never kills */
    } else if (!strcmp(p, "qC")) {
        snprintf(buf, sizeof buf, "QC%x", (unsigned)s->stop_thread);
        gdb_reply(s, buf);
    } else if (!strcmp(p, "qfThreadInfo")) {
        size_t len = 0;
        buf[len++] = 'm';
        for (int i = 1; i <= s->t->nthreads && i <= GDB_MAX_THREADS; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, i > 1 ? ",%x" : "%x", i);
        gdb_reply_n(s, buf, len);
    } else if (!strcmp(p, "qsThreadInfo")) {
        gdb_reply(s, "l");
    } else if (!strcmp(p, "QStartNoAckMode")) {
        gdb_reply(s, "OK"); /* this reply is still acknowledged; the next ones are not */
        s->no_ack = true;
    } else {
        gdb_reply(s, ""); /* unknown query: "not supported" */
    }
}

static void dispatch(struct gdb_session *s, char *p, size_t n)
{
    p[n] = '\0';
    if (s->running) { /* all-stop: nothing but ^C until the target stops */
        gdb_reply_error(s, GDB_E_TARGET);
        return;
    }
    switch (p[0]) {
    case '?':
        gdb_reply_stop(s);
        break;
    case 'g':
        gdb_cmd_read_regs(s);
        break;
    case 'G':
        gdb_cmd_write_regs(s, p + 1, n - 1);
        break;
    case 'p':
        gdb_cmd_read_reg(s, p + 1, n - 1);
        break;
    case 'P':
        gdb_cmd_write_reg(s, p + 1, n - 1);
        break;
    case 'm':
        gdb_cmd_read_mem(s, p + 1, n - 1);
        break;
    case 'M':
        gdb_cmd_write_mem(s, p + 1, n - 1);
        break;
    case 'Z':
    case 'z':
        gdb_cmd_breakpoint(s, p, n);
        break;
    case 'c':
        gdb_cmd_resume(s, 0);
        break;
    case 's':
        gdb_cmd_resume(s, s->c_thread > 0 ? s->c_thread : s->stop_thread);
        break;
    case 'v':
        if (!strcmp(p, "vCont?"))
            gdb_reply(s, "vCont;c;C;s;S");
        else if (!strncmp(p, "vCont;", 6))
            gdb_cmd_vcont(s, p + 6, n - 6);
        else
            gdb_reply(s, "");
        break;
    case 'H':
        cmd_thread_select(s, p + 1, n - 1);
        break;
    case 'T':
        cmd_thread_alive(s, p + 1, n - 1);
        break;
    case 'q':
    case 'Q':
        cmd_query(s, p, n);
        break;
    case 'D':
        gdb_remove_all_breakpoints(s);
        gdb_reply(s, "OK");
        s->detached = true;
        s->t->detach(s->t->ctx, false);
        break;
    case 'k': /* no reply to a kill */
        gdb_remove_all_breakpoints(s);
        s->detached = true;
        s->t->detach(s->t->ctx, true);
        break;
    default:
        gdb_reply(s, "");
        break;
    }
}

static void end_of_packet(struct gdb_session *s, uint8_t sent)
{
    bool ok = sent == s->sum;
    if (!ok)
        s->bad_checksums++;
    if (!s->no_ack)
        s->t->send(s->t->ctx, ok ? "+" : "-", 1);
    if (!ok)
        return; /* the client resends it (in no-ack mode it is dropped, as gdb's own stubs do) */
    if (s->overflow) {
        s->oversized++;
        gdb_reply_error(s, GDB_E_TOOBIG);
        return;
    }
    if (s->len == 0) {
        gdb_reply(s, "");
        return;
    }
    dispatch(s, s->pkt, s->len);
}

static void rx_byte(struct gdb_session *s, uint8_t c)
{
    if (s->len < GDB_PACKET_MAX)
        s->pkt[s->len++] = (char)c;
    else
        s->overflow = true; /* read on to the '#', then refuse the packet as a whole */
}

void gdb_input(struct gdb_session *s, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n && !s->detached; i++) {
        uint8_t c = buf[i];
        switch (s->rx) {
        case GDB_RX_IDLE:
            if (c == '$') {
                s->rx = GDB_RX_DATA;
                s->len = 0;
                s->sum = 0;
                s->overflow = false;
            } else if (c == 0x03) {
                if (s->running && s->t->interrupt(s->t->ctx) < 0)
                    gdb_stopped(s, s->stop_thread, GDB_SIGINT);
            } else if (c == '-' && !s->no_ack && s->last_len) {
                s->t->send(s->t->ctx, s->last, s->last_len);
            } /* '+' and line noise between packets are ignored */
            break;
        case GDB_RX_DATA:
            if (c == '#') {
                s->rx = GDB_RX_CSUM1;
                break;
            }
            s->sum += c;
            if (c == '}')
                s->rx = GDB_RX_ESC;
            else if (c == '$') /* a new packet before this one ended: start over */
                s->len = 0, s->sum = 0, s->overflow = false;
            else
                rx_byte(s, c);
            break;
        case GDB_RX_ESC:
            s->sum += c;
            rx_byte(s, c ^ 0x20);
            s->rx = GDB_RX_DATA;
            break;
        case GDB_RX_CSUM1:
        case GDB_RX_CSUM2: {
            int d = hexval((char)c);
            if (d < 0) { /* not a checksum: count it as a bad one */
                s->rx = GDB_RX_IDLE;
                s->bad_checksums++;
                if (!s->no_ack)
                    s->t->send(s->t->ctx, "-", 1);
                break;
            }
            if (s->rx == GDB_RX_CSUM1) {
                s->csum_hi = (uint8_t)d;
                s->rx = GDB_RX_CSUM2;
            } else {
                s->rx = GDB_RX_IDLE;
                end_of_packet(s, (uint8_t)(s->csum_hi << 4 | d));
            }
            break;
        }
        }
    }
}

void gdb_stopped(struct gdb_session *s, int thread, int sig)
{
    s->stop_thread = thread > 0 && thread <= s->t->nthreads ? thread : 1;
    s->stop_sig = sig;
    s->g_thread = s->stop_thread; /* gdb reads the stopped thread's registers next */
    if (!s->running)
        return;
    s->running = false;
    gdb_reply_stop(s);
}

void gdb_session_end(struct gdb_session *s)
{
    gdb_remove_all_breakpoints(s);
}
