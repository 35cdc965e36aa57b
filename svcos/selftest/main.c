/* main.c: the svcos self-test: runs every check inside the VM and prints one machine-readable
 * SELFTEST line. */
#define _GNU_SOURCE
#include "selftest.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <svcos.h>
#include <time.h>

#pragma weak svcos_mem_usage
#pragma weak svcos_entry_mono_ns

static const struct {
    const char *name;
    int (*fn)(struct st_ctx *, char *);
} checks[] = {
    {"malloc", check_malloc}, {"cpio", check_cpio},         {"ramfs", check_ramfs},
    {"fds", check_fds},       {"clock", check_clock},       {"random", check_random},
    {"jansson", check_json},  {"tls", check_tls},           {"http", check_http},
    {"tcp", check_tcp},       {"tcp_bulk", check_tcp_bulk}, {"tcp_edge", check_tcp_edge},
    {"udp", check_udp},       {"http_tcp", check_http_tcp}, {"nic", check_nic},
};
#define NCHECKS (sizeof checks / sizeof checks[0])

int st_bench;

int fail(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* JSON string contents: the messages are ours, but quote them properly anyway. */
static void json_str(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", ch);
        else if (ch < 0x20)
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = 0;
}

static int selected(const char *only, const char *name)
{
    if (!only)
        return 1;
    size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct st_ctx c = {.root = "/"};
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            c.root = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--bench") && i + 1 < argc)
            c.bench = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            st_bench = c.bench; /* a mode's benchmark passes: `--bench N` before `--mode` */
            return run_mode(argv[++i]);
        }
    }
    double t_start = now_ms();
    if (svcos_entry_mono_ns)
        c.boot_to_main_ms = t_start - (double)svcos_entry_mono_ns() / 1e6;
    int ok_all = 1;
    static char line[8192], checks_json[1024], ms_json[2048], errs[4096];
    size_t cj = 0, mj = 0, ej = 0;
    for (size_t i = 0; i < NCHECKS; i++) {
        if (!selected(only, checks[i].name))
            continue;
        char why[WHY_LEN] = "";
        double t0 = now_ms();
        int ok = checks[i].fn(&c, why) == 0;
        double dt = now_ms() - t0;
        ok_all &= ok;
        cj += (size_t)snprintf(checks_json + cj, sizeof checks_json - cj, "%s\"%s\":%s",
                               cj ? "," : "", checks[i].name, ok ? "true" : "false");
        mj += (size_t)snprintf(ms_json + mj, sizeof ms_json - mj, "%s\"%s\":%.1f", mj ? "," : "",
                               checks[i].name, dt);
        if (!ok) {
            char q[2 * WHY_LEN];
            json_str(q, sizeof q, why);
            ej += (size_t)snprintf(errs + ej, sizeof errs - ej, "%s\"%s\":\"%s\"", ej ? "," : "",
                                   checks[i].name, q);
        }
    }
    uint64_t total = 0, used = 0, peak = 0;
    if (svcos_mem_usage)
        svcos_mem_usage(&total, &used, &peak);
    snprintf(line, sizeof line,
             "SELFTEST "
             "{\"ok\":%s,\"checks\":{%s},\"ms\":{%s%s\"total\":%.1f},\"stats\":{\"tls_handshake_"
             "ms\":%.2f,"
             "\"tls_echo_1mib_ms\":%.2f,\"tls_handshakes_per_s\":%.1f,\"clock_skew_ms\":%.3f,"
             "\"boot_to_main_ms\":%.2f,\"tcp_conn_ms\":%.3f,\"tcp_mb_per_s\":%.1f,"
             "\"peak_mem_kib\":%llu,"
             "\"svcos\":%s},\"errors\":{%s}}",
             ok_all ? "true" : "false", checks_json, ms_json, mj ? "," : "", now_ms() - t_start,
             c.tls_handshake_ms, c.tls_echo_ms, c.tls_handshakes_per_s, c.clock_skew_ms,
             c.boot_to_main_ms, c.tcp_seq_conn_ms, c.tcp_mb_per_s, (unsigned long long)peak * 4,
             svcos_mem_usage ? "true" : "false", errs);
    puts(line);
    fflush(stdout);
    return ok_all ? 0 : 1;
}
