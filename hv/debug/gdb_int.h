/* gdb_int.h: what gdb_proto.c (framing, dispatch) and gdb_cmds.c (the commands) share. */
#ifndef HV_GDB_INT_H
#define HV_GDB_INT_H

#include "debug/gdb_proto.h"

/* Error replies: gdb shows the number; errno's values, as gdbserver uses them. */
#define GDB_E_MALFORMED "E01"
#define GDB_E_TOOBIG    "E07"
#define GDB_E_FAULT     "E0e"
#define GDB_E_INVAL     "E16"
#define GDB_E_NOSPC     "E1c"
#define GDB_E_TARGET    "E05"

/* Sends one packet with payload p[0..n) (escaped as needed) and keeps it for a resend. */
void gdb_reply_n(struct gdb_session *s, const char *p, size_t n);
void gdb_reply(struct gdb_session *s, const char *p);
void gdb_reply_error(struct gdb_session *s, const char *code);
void gdb_reply_stop(struct gdb_session *s);

/* Hex helpers.  parse_hex_u64 takes 1..16 digits up to a delimiter in `end_at` (or the end)
 * and returns the position after them, NULL if malformed. */
const char *gdb_parse_hex(const char *p, const char *end, const char *end_at, uint64_t *v);
bool gdb_hex_decode(const char *p, size_t n, uint8_t *out);
void gdb_hex_encode(const uint8_t *in, size_t n, char *out);

/* The commands (gdb_cmds.c), each given the packet p[0..n), NUL-terminated at n. */
void gdb_cmd_read_regs(struct gdb_session *s);
void gdb_cmd_write_regs(struct gdb_session *s, const char *p, size_t n);
void gdb_cmd_read_reg(struct gdb_session *s, const char *p, size_t n);
void gdb_cmd_write_reg(struct gdb_session *s, const char *p, size_t n);
void gdb_cmd_read_mem(struct gdb_session *s, const char *p, size_t n);
void gdb_cmd_write_mem(struct gdb_session *s, const char *p, size_t n);
void gdb_cmd_breakpoint(struct gdb_session *s, const char *p, size_t n);
void gdb_cmd_resume(struct gdb_session *s, int step_thread);
void gdb_cmd_vcont(struct gdb_session *s, const char *p, size_t n);
void gdb_remove_all_breakpoints(struct gdb_session *s);

#endif
