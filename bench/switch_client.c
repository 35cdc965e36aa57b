/* switch_client: bench/switch.py's timing loops in C, for hv's control socket and for QEMU's QMP,
 * so that a slow client (Python in the nested machine: ~1 ms a request) can be told apart from
 * the server.
 *
 *   switch_client hv SOCKET PAIRS HELLOS GAP_MS SEED
 *       PAIRS x ({"op":"switch","target":"service"}, {"op":"switch","target":"guest"}), then
 *       HELLOS x {"op":"hello"}, on one connection; hv is already up with the guest in front
 *   switch_client qmp SOCKET WARMUP PAIRS GAP_MS SEED
 *       qmp_capabilities, WARMUP unmeasured and PAIRS measured {"execute":"stop"} +
 *       {"execute":"cont"}; QEMU is already running its guest
 *
 * Each request is timed as switch.py times it: CLOCK_MONOTONIC before the request is written,
 * and after the whole response is read and parsed (asynchronous QMP events are skipped).
 * Between requests it sleeps GAP_MS x U(0.5, 1.5).  Prints one JSON object of nanosecond
 * samples on stdout; exits 1 on any error, with the reason on stderr.
 */
#include "control/ctl_proto.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int sock = -1;
static uint64_t rng_state;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "switch_client: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* xorshift64*: the gaps only need to be jittered and reproducible. */
static double uniform01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void gap(double gap_ms)
{
    if (gap_ms <= 0)
        return;
    double ns = (0.5 + uniform01()) * gap_ms * 1e6;
    struct timespec ts = {(time_t)(ns / 1e9), (long)((uint64_t)ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void connect_to(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path)
        die("socket path too long: %s", path);
    strcpy(addr.sun_path, path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("cannot connect to %s", path);
}

static void send_all(const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void recv_all(void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = recv(sock, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("%s", r ? strerror(errno) : "the server closed the connection");
        p += r;
        n -= (size_t)r;
    }
}

/* ------------------------------------------------------------------ hv's control socket */

static json_t *hv_call(json_t *req)
{
    uint8_t *frame;
    size_t n = ctl_encode(VIGIL_CTL_REQUEST, req, NULL, 0, &frame);
    if (!n)
        die("%s", "cannot encode a request");
    send_all(frame, n);
    free(frame);
    struct vigil_ctl_header h;
    recv_all(&h, sizeof h);
    if (h.magic != VIGIL_CTL_MAGIC || h.kind != VIGIL_CTL_RESPONSE ||
        h.json_len > VIGIL_CTL_JSON_MAX || h.data_len > VIGIL_CTL_DATA_MAX)
        die("%s", "malformed response header");
    char *body = malloc((size_t)h.json_len + h.data_len + 1);
    if (!body)
        die("%s", "out of memory");
    recv_all(body, (size_t)h.json_len + h.data_len);
    json_error_t e;
    json_t *resp = json_loadb(body, h.json_len, 0, &e);
    free(body);
    if (!resp)
        die("bad response JSON: %s", e.text);
    return resp;
}

static void print_array(const char *name, const uint64_t *v, size_t n, int last)
{
    printf("\"%s\": [", name);
    for (size_t i = 0; i < n; i++)
        printf("%s%llu", i ? ", " : "", (unsigned long long)v[i]);
    printf("]%s\n", last ? "" : ",");
}

static int run_hv(const char *path, size_t pairs, size_t hellos, double gap_ms)
{
    connect_to(path);
    uint64_t *svc = calloc(pairs, sizeof(uint64_t)), *gst = calloc(pairs, sizeof(uint64_t)),
             *hello = calloc(hellos, sizeof(uint64_t));
    double *svc_us = calloc(pairs, sizeof(double)), *gst_us = calloc(pairs, sizeof(double));
    if (!svc || !gst || !hello || !svc_us || !gst_us)
        die("%s", "out of memory");
    json_t *to[2] = {json_pack("{s:s, s:s}", "op", "switch", "target", "service"),
                     json_pack("{s:s, s:s}", "op", "switch", "target", "guest")};
    for (size_t i = 0; i < pairs; i++)
        for (int k = 0; k < 2; k++) {
            uint64_t t0 = now_ns();
            json_t *resp = hv_call(to[k]);
            uint64_t t1 = now_ns();
            const char *fg = json_string_value(json_object_get(resp, "foreground"));
            const char *want = k ? "guest" : "service";
            if (!json_is_true(json_object_get(resp, "ok")) || !fg || strcmp(fg, want))
                die("switch %s refused", want);
            (k ? gst : svc)[i] = t1 - t0;
            (k ? gst_us : svc_us)[i] = json_number_value(json_object_get(resp, "switch_us"));
            json_decref(resp);
            gap(gap_ms);
        }
    json_t *hreq = json_pack("{s:s}", "op", "hello");
    for (size_t i = 0; i < hellos; i++) {
        uint64_t t0 = now_ns();
        json_t *resp = hv_call(hreq);
        hello[i] = now_ns() - t0;
        if (!json_is_true(json_object_get(resp, "ok")))
            die("%s", "hello failed");
        json_decref(resp);
        gap(gap_ms / 4);
    }
    json_decref(hreq);
    json_decref(to[0]);
    json_decref(to[1]);
    printf("{\n");
    print_array("to_service", svc, pairs, 0);
    print_array("to_guest", gst, pairs, 0);
    for (size_t i = 0; i < pairs; i++) /* switch_us, as ns like the rest */
        svc[i] = (uint64_t)(svc_us[i] * 1e3), gst[i] = (uint64_t)(gst_us[i] * 1e3);
    print_array("handler_to_service", svc, pairs, 0);
    print_array("handler_to_guest", gst, pairs, 0);
    print_array("hello", hello, hellos, 1);
    printf("}\n");
    free(svc), free(gst), free(hello), free(svc_us), free(gst_us);
    close(sock);
    return 0;
}

/* ------------------------------------------------------------------ QEMU's QMP */

static char qbuf[65536];
static size_t qlen;

/* One line of QMP (a JSON object per line), parsed. */
static json_t *qmp_line(void)
{
    for (;;) {
        char *nl = memchr(qbuf, '\n', qlen);
        if (nl) {
            json_error_t e;
            json_t *j = json_loadb(qbuf, (size_t)(nl - qbuf), 0, &e);
            qlen -= (size_t)(nl + 1 - qbuf);
            memmove(qbuf, nl + 1, qlen);
            if (!j)
                die("bad QMP JSON: %s", e.text);
            return j;
        }
        if (qlen == sizeof qbuf)
            die("%s", "QMP line too long");
        ssize_t r = recv(sock, qbuf + qlen, sizeof qbuf - qlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("%s", "QEMU closed QMP");
        qlen += (size_t)r;
    }
}

static void qmp_call(const char *cmd)
{
    char req[128];
    int n = snprintf(req, sizeof req, "{\"execute\": \"%s\"}\n", cmd);
    send_all(req, (size_t)n);
    for (;;) {
        json_t *j = qmp_line();
        bool event = json_object_get(j, "event") != NULL; /* STOP / RESUME: asynchronous */
        bool error = json_object_get(j, "error") != NULL;
        bool ret = json_object_get(j, "return") != NULL;
        json_decref(j);
        if (error)
            die("QMP %s failed", cmd);
        if (!event && ret)
            return;
    }
}

static int run_qmp(const char *path, size_t warmup, size_t pairs, double gap_ms)
{
    connect_to(path);
    json_t *greeting = qmp_line();
    if (!json_object_get(greeting, "QMP"))
        die("%s", "not a QMP greeting");
    json_decref(greeting);
    qmp_call("qmp_capabilities");
    uint64_t *stop = calloc(pairs, sizeof(uint64_t)), *cont = calloc(pairs, sizeof(uint64_t)),
             *pair = calloc(pairs, sizeof(uint64_t));
    if (!stop || !cont || !pair)
        die("%s", "out of memory");
    for (size_t i = 0; i < warmup + pairs; i++) {
        uint64_t t0 = now_ns();
        qmp_call("stop");
        uint64_t t1 = now_ns();
        gap(gap_ms);
        uint64_t t2 = now_ns();
        qmp_call("cont");
        uint64_t t3 = now_ns();
        gap(gap_ms);
        if (i >= warmup) {
            stop[i - warmup] = t1 - t0;
            cont[i - warmup] = t3 - t2;
            pair[i - warmup] = t1 - t0 + t3 - t2;
        }
    }
    printf("{\n");
    print_array("stop", stop, pairs, 0);
    print_array("cont", cont, pairs, 0);
    print_array("stop_cont", pair, pairs, 1);
    printf("}\n");
    free(stop), free(cont), free(pair);
    close(sock);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && !strcmp(argv[1], "hv")) {
        rng_state = strtoull(argv[6], NULL, 0) * 2 + 1;
        return run_hv(argv[2], strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0),
                      strtod(argv[5], NULL));
    }
    if (argc == 7 && !strcmp(argv[1], "qmp")) {
        rng_state = strtoull(argv[6], NULL, 0) * 2 + 1;
        return run_qmp(argv[2], strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0),
                       strtod(argv[5], NULL));
    }
    fprintf(stderr, "usage: switch_client hv SOCKET PAIRS HELLOS GAP_MS SEED\n"
                    "       switch_client qmp SOCKET WARMUP PAIRS GAP_MS SEED\n");
    return 2;
}
