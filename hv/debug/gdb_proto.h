/* gdb_proto.h: the GDB remote serial protocol for an x86-64 target: framing and commands, pure. */
#ifndef HV_GDB_PROTO_H
#define HV_GDB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GDB_PACKET_MAX  4096 /* the payload we accept, announced as PacketSize */
#define GDB_MAX_THREADS 64
#define GDB_MAX_SWBP    64
#define GDB_MAX_HWBP    4 /* DR0-DR3 */
/* The 'g' packet: amd64's registers in the order gdb's default i386:x86-64 description has
 * them (no target XML): 16 GPRs, rip, eflags, 6 segments, st0-7, 8 x87 control words,
 * xmm0-15, mxcsr. */
#define GDB_NREGS     57
#define GDB_REGS_SIZE 536

/* Signals in stop replies, gdb's numbering. */
#define GDB_SIGINT  2
#define GDB_SIGTRAP 5
#define GDB_SIGSEGV 11

struct gdb_amd64_regs {
    uint64_t gpr[16]; /* rax rbx rcx rdx rsi rdi rbp rsp r8-r15: gdb's order, not KVM's */
    uint64_t rip;
    uint32_t eflags;
    uint32_t seg[6]; /* cs ss ds es fs gs: selectors */
    uint8_t st[8][10];
    uint32_t fpu_ctl[8]; /* fctrl fstat ftag fiseg fioff foseg fooff fop */
    uint8_t xmm[16][16];
    uint32_t mxcsr;
};

/* What a resume asks of the target: which thread single-steps (0: none), and the breakpoints
 * to arm (software ones are already patched into memory as int3). */
struct gdb_resume {
    int step_thread;
    bool sw_bp;
    int nhw;
    uint64_t hw[GDB_MAX_HWBP];
};

/*
 * The target, supplied by the caller.  Threads are numbered 1..nthreads (a vCPU's index + 1).
 * Every callback may fail; the session turns a failure into an error reply.  The target reports
 * a stop after `resume` or `interrupt` with gdb_stopped().
 */
struct gdb_target {
    void *ctx;
    int nthreads;
    int (*send)(void *ctx, const void *buf, size_t len); /* to the client: 0 or -1 */
    int (*get_regs)(void *ctx, int thread, struct gdb_amd64_regs *r);
    int (*set_regs)(void *ctx, int thread, const struct gdb_amd64_regs *r);
    /* Bytes copied (short at the first unreadable byte), or -1 if none. */
    long (*read_mem)(void *ctx, int thread, uint64_t addr, void *buf, size_t len);
    long (*write_mem)(void *ctx, int thread, uint64_t addr, const void *buf, size_t len);
    int (*resume)(void *ctx, const struct gdb_resume *how);
    int (*interrupt)(void *ctx);
    /* The client detached (D) or asked to kill (k); breakpoints are removed already. */
    void (*detach)(void *ctx, bool kill);
};

enum gdb_rx { GDB_RX_IDLE, GDB_RX_DATA, GDB_RX_ESC, GDB_RX_CSUM1, GDB_RX_CSUM2 };

struct gdb_session {
    const struct gdb_target *t;
    bool no_ack;
    bool running;  /* resumed: only ^C means anything until gdb_stopped */
    bool detached; /* D or k: the caller closes the connection */
    int g_thread;  /* Hg: the thread g, p, m and Z read through (1-based) */
    int c_thread;  /* Hc */
    int stop_thread, stop_sig;
    /* Receiver. */
    enum gdb_rx rx;
    char pkt[GDB_PACKET_MAX + 1];
    size_t len;
    bool overflow;
    uint8_t sum, csum_hi;
    /* The last reply, resent on '-'. */
    char last[2 * GDB_PACKET_MAX + 8];
    size_t last_len;
    struct {
        uint64_t addr;
        uint8_t orig;
    } sw[GDB_MAX_SWBP];
    int nsw;
    uint64_t hw[GDB_MAX_HWBP];
    int nhw;
    /* Counters, for the caller's log and the tests. */
    uint64_t bad_checksums, oversized, errors;
};

/* A stopped target, thread 1 current. */
void gdb_session_init(struct gdb_session *s, const struct gdb_target *t);
/* Bytes from the client: packets, acks and ^C; replies go out through t->send. */
void gdb_input(struct gdb_session *s, const uint8_t *buf, size_t n);
/* The target stopped (thread, signal): sends the stop reply if the client waits for one. */
void gdb_stopped(struct gdb_session *s, int thread, int sig);
/* The client went away: restores patched memory.  The caller decides what the target does. */
void gdb_session_end(struct gdb_session *s);
/* Whether addr holds one of the session's software breakpoints. */
bool gdb_has_sw_bp(const struct gdb_session *s, uint64_t addr);

#endif
