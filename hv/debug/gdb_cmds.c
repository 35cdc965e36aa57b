/* gdb_cmds.c: the GDB commands on a stopped target: registers, memory, breakpoints, resume. */
#include "debug/gdb_int.h"

#include <string.h>

#define INT3 0xcc

/* Offset and size of register n in the 'g' packet (GDB_NREGS of them). */
static void reg_slot(int n, size_t *off, size_t *size)
{
    if (n < 17) { /* 16 GPRs and rip */
        *off = (size_t)n * 8, *size = 8;
    } else if (n < 24) { /* eflags and 6 segments */
        *off = 136 + (size_t)(n - 17) * 4, *size = 4;
    } else if (n < 32) { /* st0-7 */
        *off = 164 + (size_t)(n - 24) * 10, *size = 10;
    } else if (n < 40) { /* x87 control */
        *off = 244 + (size_t)(n - 32) * 4, *size = 4;
    } else if (n < 56) { /* xmm0-15 */
        *off = 276 + (size_t)(n - 40) * 16, *size = 16;
    } else { /* mxcsr */
        *off = 532, *size = 4;
    }
}

/* The registers as gdb lays them out (little-endian, as the target is). */
static void regs_pack(const struct gdb_amd64_regs *r, uint8_t *b)
{
    memcpy(b, r->gpr, 128);
    memcpy(b + 128, &r->rip, 8);
    memcpy(b + 136, &r->eflags, 4);
    memcpy(b + 140, r->seg, 24);
    memcpy(b + 164, r->st, 80);
    memcpy(b + 244, r->fpu_ctl, 32);
    memcpy(b + 276, r->xmm, 256);
    memcpy(b + 532, &r->mxcsr, 4);
}

static void regs_unpack(const uint8_t *b, struct gdb_amd64_regs *r)
{
    memcpy(r->gpr, b, 128);
    memcpy(&r->rip, b + 128, 8);
    memcpy(&r->eflags, b + 136, 4);
    memcpy(r->seg, b + 140, 24);
    memcpy(r->st, b + 164, 80);
    memcpy(r->fpu_ctl, b + 244, 32);
    memcpy(r->xmm, b + 276, 256);
    memcpy(&r->mxcsr, b + 532, 4);
}

static bool get_packed(struct gdb_session *s, uint8_t *b)
{
    struct gdb_amd64_regs r;
    if (s->t->get_regs(s->t->ctx, s->g_thread, &r) < 0)
        return false;
    regs_pack(&r, b);
    return true;
}

void gdb_cmd_read_regs(struct gdb_session *s)
{
    uint8_t b[GDB_REGS_SIZE];
    char hex[2 * GDB_REGS_SIZE];
    if (!get_packed(s, b)) {
        gdb_reply_error(s, GDB_E_TARGET);
        return;
    }
    gdb_hex_encode(b, sizeof b, hex);
    gdb_reply_n(s, hex, sizeof hex);
}

void gdb_cmd_write_regs(struct gdb_session *s, const char *p, size_t n)
{
    uint8_t b[GDB_REGS_SIZE];
    struct gdb_amd64_regs r;
    if (n != 2 * GDB_REGS_SIZE || !gdb_hex_decode(p, n, b)) {
        gdb_reply_error(s, GDB_E_MALFORMED);
        return;
    }
    regs_unpack(b, &r);
    gdb_reply(s, s->t->set_regs(s->t->ctx, s->g_thread, &r) < 0 ? GDB_E_TARGET : "OK");
}

void gdb_cmd_read_reg(struct gdb_session *s, const char *p, size_t n)
{
    uint64_t reg;
    uint8_t b[GDB_REGS_SIZE];
    char hex[32];
    size_t off, size;
    if (gdb_parse_hex(p, p + n, "", &reg) != p + n || reg >= GDB_NREGS) {
        gdb_reply_error(s, GDB_E_INVAL);
        return;
    }
    if (!get_packed(s, b)) {
        gdb_reply_error(s, GDB_E_TARGET);
        return;
    }
    reg_slot((int)reg, &off, &size);
    gdb_hex_encode(b + off, size, hex);
    gdb_reply_n(s, hex, 2 * size);
}

void gdb_cmd_write_reg(struct gdb_session *s, const char *p, size_t n)
{
    uint64_t reg;
    uint8_t b[GDB_REGS_SIZE];
    size_t off, size;
    const char *q = gdb_parse_hex(p, p + n, "=", &reg);
    if (!q || q == p + n || reg >= GDB_NREGS) {
        gdb_reply_error(s, GDB_E_INVAL);
        return;
    }
    q++;
    reg_slot((int)reg, &off, &size);
    if ((size_t)(p + n - q) != 2 * size) {
        gdb_reply_error(s, GDB_E_MALFORMED);
        return;
    }
    if (!get_packed(s, b)) {
        gdb_reply_error(s, GDB_E_TARGET);
        return;
    }
    if (!gdb_hex_decode(q, 2 * size, b + off)) {
        gdb_reply_error(s, GDB_E_MALFORMED);
        return;
    }
    struct gdb_amd64_regs r;
    regs_unpack(b, &r);
    gdb_reply(s, s->t->set_regs(s->t->ctx, s->g_thread, &r) < 0 ? GDB_E_TARGET : "OK");
}

/* "addr,len" followed by `term` (or the end): false if malformed or if the range wraps. */
static const char *parse_range(const char *p, const char *end, const char *term, uint64_t *addr,
                               uint64_t *len)
{
    const char *q = gdb_parse_hex(p, end, ",", addr);
    if (!q || q == end)
        return NULL;
    q = gdb_parse_hex(q + 1, end, term, len);
    if (!q || (*len && *addr + (*len - 1) < *addr))
        return NULL;
    return q;
}

/* Bytes the session patched with int3 read as what they held. */
static void hide_breakpoints(const struct gdb_session *s, uint64_t addr, uint8_t *buf, size_t len)
{
    for (int i = 0; i < s->nsw; i++)
        if (s->sw[i].addr - addr < len)
            buf[s->sw[i].addr - addr] = s->sw[i].orig;
}

void gdb_cmd_read_mem(struct gdb_session *s, const char *p, size_t n)
{
    uint64_t addr, len;
    uint8_t buf[GDB_PACKET_MAX / 2];
    char hex[GDB_PACKET_MAX];
    if (parse_range(p, p + n, "", &addr, &len) != p + n) {
        gdb_reply_error(s, GDB_E_MALFORMED);
        return;
    }
    if (len > sizeof buf) /* the reply must fit PacketSize: gdb asks again for the rest */
        len = sizeof buf;
    if (len == 0) {
        gdb_reply(s, "");
        return;
    }
    long got = s->t->read_mem(s->t->ctx, s->g_thread, addr, buf, (size_t)len);
    if (got <= 0) {
        gdb_reply_error(s, GDB_E_FAULT);
        return;
    }
    hide_breakpoints(s, addr, buf, (size_t)got);
    gdb_hex_encode(buf, (size_t)got, hex);
    gdb_reply_n(s, hex, 2 * (size_t)got);
}

void gdb_cmd_write_mem(struct gdb_session *s, const char *p, size_t n)
{
    uint64_t addr, len;
    uint8_t buf[GDB_PACKET_MAX / 2];
    const char *q = parse_range(p, p + n, ":", &addr, &len);
    if (!q || q == p + n || len > sizeof buf || (size_t)(p + n - q - 1) != 2 * len ||
        !gdb_hex_decode(q + 1, 2 * len, buf)) {
        gdb_reply_error(s, GDB_E_MALFORMED);
        return;
    }
    /* A write over a breakpoint changes what it will restore, and keeps the int3. */
    for (int i = 0; i < s->nsw; i++)
        if (s->sw[i].addr - addr < len) {
            s->sw[i].orig = buf[s->sw[i].addr - addr];
            buf[s->sw[i].addr - addr] = INT3;
        }
    long put = len ? s->t->write_mem(s->t->ctx, s->g_thread, addr, buf, (size_t)len) : 0;
    gdb_reply(s, put == (long)len ? "OK" : GDB_E_FAULT);
}

static void sw_insert(struct gdb_session *s, uint64_t addr)
{
    uint8_t orig, cc = INT3;
    if (gdb_has_sw_bp(s, addr)) {
        gdb_reply(s, "OK");
        return;
    }
    if (s->nsw == GDB_MAX_SWBP) {
        gdb_reply_error(s, GDB_E_NOSPC);
        return;
    }
    if (s->t->read_mem(s->t->ctx, s->g_thread, addr, &orig, 1) != 1 ||
        s->t->write_mem(s->t->ctx, s->g_thread, addr, &cc, 1) != 1) {
        gdb_reply_error(s, GDB_E_FAULT);
        return;
    }
    s->sw[s->nsw].addr = addr;
    s->sw[s->nsw++].orig = orig;
    gdb_reply(s, "OK");
}

static bool sw_remove(struct gdb_session *s, int i)
{
    bool ok = s->t->write_mem(s->t->ctx, s->g_thread, s->sw[i].addr, &s->sw[i].orig, 1) == 1;
    s->sw[i] = s->sw[--s->nsw];
    return ok;
}

void gdb_cmd_breakpoint(struct gdb_session *s, const char *p, size_t n)
{
    bool insert = p[0] == 'Z';
    uint64_t addr, kind;
    if (n < 3 || p[2] != ',' || (p[1] != '0' && p[1] != '1')) {
        gdb_reply(s, n >= 2 && p[1] >= '2' && p[1] <= '4' ? "" : GDB_E_MALFORMED); /* watch: no */
        return;
    }
    /* "addr,kind" and, for Z, perhaps ";cond" lists we ignore (gdb evaluates conditions). */
    if (!parse_range(p + 3, p + n, ";", &addr, &kind)) {
        gdb_reply_error(s, GDB_E_MALFORMED);
        return;
    }
    if (p[1] == '0') {
        if (insert) {
            sw_insert(s, addr);
            return;
        }
        for (int i = 0; i < s->nsw; i++)
            if (s->sw[i].addr == addr) {
                gdb_reply(s, sw_remove(s, i) ? "OK" : GDB_E_FAULT);
                return;
            }
        gdb_reply(s, "OK"); /* not there: removed already */
        return;
    }
    for (int i = 0; i < s->nhw; i++)
        if (s->hw[i] == addr) {
            if (!insert)
                s->hw[i] = s->hw[--s->nhw];
            gdb_reply(s, "OK");
            return;
        }
    if (!insert) {
        gdb_reply(s, "OK");
    } else if (s->nhw == GDB_MAX_HWBP) {
        gdb_reply_error(s, GDB_E_NOSPC); /* four debug registers */
    } else {
        s->hw[s->nhw++] = addr;
        gdb_reply(s, "OK");
    }
}

void gdb_cmd_resume(struct gdb_session *s, int step_thread)
{
    struct gdb_resume how = {.step_thread = step_thread, .sw_bp = s->nsw > 0, .nhw = s->nhw};
    memcpy(how.hw, s->hw, sizeof how.hw);
    s->running = true; /* before resume: the target may report its stop at once */
    if (s->t->resume(s->t->ctx, &how) < 0) {
        s->running = false;
        gdb_reply_error(s, GDB_E_TARGET);
    }
}

/* vCont;ACTION[:thread][;ACTION[:thread]]...: the first step action names the stepping
 * thread; every other thread continues (all-stop: all of them stop at the next event). */
void gdb_cmd_vcont(struct gdb_session *s, const char *p, size_t n)
{
    const char *end = p + n;
    int step = 0;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *act_end = semi ? semi : end;
        char a = *p;
        const char *q = p + 1;
        if (a == 'C' || a == 'S') { /* a signal number: there are no signals to deliver */
            uint64_t sig;
            q = gdb_parse_hex(q, act_end, ":", &sig);
        } else if (a != 'c' && a != 's') {
            q = NULL;
        }
        int tid = -1;
        if (q && q < act_end && *q == ':') {
            uint64_t t;
            q = gdb_parse_hex(q + 1, act_end, "", &t);
            if (q && (t == 0 || t > (uint64_t)s->t->nthreads))
                q = NULL;
            else if (q)
                tid = (int)t;
        }
        if (!q || q != act_end) {
            gdb_reply_error(s, GDB_E_MALFORMED);
            return;
        }
        if ((a == 's' || a == 'S') && !step)
            step = tid > 0 ? tid : s->stop_thread;
        p = semi ? semi + 1 : end;
    }
    gdb_cmd_resume(s, step);
}

bool gdb_has_sw_bp(const struct gdb_session *s, uint64_t addr)
{
    for (int i = 0; i < s->nsw; i++)
        if (s->sw[i].addr == addr)
            return true;
    return false;
}

void gdb_remove_all_breakpoints(struct gdb_session *s)
{
    while (s->nsw)
        sw_remove(s, s->nsw - 1);
    s->nhw = 0;
}
