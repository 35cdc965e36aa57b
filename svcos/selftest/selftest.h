/* selftest.h: the svcos self-test's checks; each returns 0 or fails with a message in `why`. */
#ifndef SVCOS_SELFTEST_H
#define SVCOS_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#define WHY_LEN 200

struct st_ctx {
    const char *root; /* where the packed files are: "/" inside svcos */
    int bench;        /* repetitions for the TLS benchmark numbers (0: off) */
    /* Extra numbers a check reports, printed under "ms" / "stats". */
    double tls_handshake_ms, tls_echo_ms, tls_handshakes_per_s;
    double clock_skew_ms;
    double boot_to_main_ms; /* svcos entry to main(), inside the VM */
    double tcp_seq_conn_ms; /* one sequential loopback connection with its echo */
    double tcp_mb_per_s;    /* one-way loopback TCP throughput */
};

int fail(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double now_ms(void);

int check_malloc(struct st_ctx *c, char *why);
int check_cpio(struct st_ctx *c, char *why);
int check_ramfs(struct st_ctx *c, char *why);
int check_fds(struct st_ctx *c, char *why);
int check_clock(struct st_ctx *c, char *why);
int check_random(struct st_ctx *c, char *why);
int check_json(struct st_ctx *c, char *why);
int check_tls(struct st_ctx *c, char *why);
int check_http(struct st_ctx *c, char *why);
int check_tcp(struct st_ctx *c, char *why);
int check_tcp_bulk(struct st_ctx *c, char *why);
int check_tcp_edge(struct st_ctx *c, char *why);
int check_udp(struct st_ctx *c, char *why);
int check_http_tcp(struct st_ctx *c, char *why);
int check_nic(struct st_ctx *c, char *why);
int run_mode(const char *mode);
int run_serve(void);
int run_svcchan(void);
extern int st_bench; /* --bench N given before --mode: repetitions for a mode's numbers */

#endif
