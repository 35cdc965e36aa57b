/* main.c: mgmt-agent: the Redfish service over HTTPS; options, start-up, the loop. */
#include "accounts.h"
#include "agent.h"
#include "conn.h"
#include "events.h"
#include "evhv.h"
#include "evsensors.h"
#include "http.h"
#include "hvlink.h"
#include "mtls.h"
#include "nv.h"
#include "sse.h"
#include "tasks.h"
#include "tickets.h"
#include "tls.h"
#include "upload.h"
#include "web.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

char agent_uuid[37];

static volatile int stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* The loop's timed work: hv's events first, so that streams and tasks see them this turn. */
static int64_t tick(int64_t now_ms)
{
    int64_t a = evhv_tick(now_ms), b = tasks_tick(now_ms), c = sse_tick(now_ms);
    int64_t d = evsensors_tick(now_ms), ab = a < b ? a : b, cd = c < d ? c : d;
    return ab < cd ? ab : cd;
}

static const char usage[] =
    "usage: mgmt-agent [options]\n"
    "  --hv-socket PATH           hv's control socket ($VIGIL_HV_SOCKET, /tmp/vigil-hv.sock)\n"
    "  --listen ADDR:PORT         where to serve HTTPS (0.0.0.0:8443)\n"
    "  --admin-password-file FILE the first administrator's password (else a random one is\n"
    "                             printed once on stderr); used only when no accounts exist\n"
    "  --web-root DIR             the dashboard's files (build/web when present, else /web)\n"
    "  --compat-dir DIR           keep NV records here when hv lacks the NV store ops\n"
    "  --max-conns N              concurrent connections (32)\n"
    "  --timeout S                idle and handshake timeout in seconds (30)\n"
    "  --client-ca FILE           PEM CA bundle: client certificates it issued log in as the\n"
    "                             account their Subject CN names (default: NV agent.clientca)\n"
    "  --ticket-ttl S             lifetime of a download ticket in seconds (60, at most 3600)\n"
    "  --boot-guest VM            once serving, boot VM by a switch to it (make run's\n"
    "                             --autostart-guest for the agent as the service VM)\n"
    "crash-report upload (docs/upload.md):\n";

/* A stable identity for the service root's UUID, kept with the accounts. */
static void load_uuid(void)
{
    uint8_t *d;
    size_t n;
    if (nv_get("agent.uuid", &d, &n) == 0 && n == 36) {
        memcpy(agent_uuid, d, 36);
        free(d);
        return;
    }
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40, b[8] = (b[8] & 0x3f) | 0x80; /* version 4 */
    snprintf(agent_uuid, sizeof agent_uuid,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    nv_put("agent.uuid", agent_uuid, 36);
}

static int listen_on(const char *spec)
{
    char host[64];
    int port;
    const char *colon = strrchr(spec, ':');
    if (!colon || colon - spec >= (long)sizeof host || (port = atoi(colon + 1)) <= 0 ||
        port > 65535) {
        fprintf(stderr, "mgmt-agent: --listen wants ADDR:PORT, not %s\n", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "mgmt-agent: %s is not an IPv4 address\n", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 64)) {
        perror("mgmt-agent: cannot listen");
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *sock = getenv("VIGIL_HV_SOCKET"), *listen_spec = "0.0.0.0:8443";
    const char *pwfile = NULL, *boot_guest = NULL, *client_ca = NULL;
    struct conn_limits lim = {.max_conns = 32, .handshake_timeout = 30, .tick = tick};
    int timeout = 30;
    if (!sock)
        sock = "/tmp/vigil-hv.sock";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            fputs(usage, stdout);
            fputs(upload_usage, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mgmt-agent: %s needs a value\n%s", a, usage);
            return 2;
        }
        i++;
        int up = upload_option(a, v);
        if (up < 0) {
            fprintf(stderr, "mgmt-agent: bad value for %s: %s\n%s", a, v, upload_usage);
            return 2;
        }
        if (up > 0)
            continue;
        if (!strcmp(a, "--hv-socket"))
            sock = v;
        else if (!strcmp(a, "--listen"))
            listen_spec = v;
        else if (!strcmp(a, "--admin-password-file"))
            pwfile = v;
        else if (!strcmp(a, "--boot-guest"))
            boot_guest = v;
        else if (!strcmp(a, "--web-root"))
            web_set_root(v);
        else if (!strcmp(a, "--compat-dir"))
            hvlink_set_compat_dir(v);
        else if (!strcmp(a, "--max-conns") && atoi(v) > 0 && atoi(v) <= 1000)
            lim.max_conns = atoi(v);
        else if (!strcmp(a, "--client-ca"))
            client_ca = v;
        else if (!strcmp(a, "--ticket-ttl") && atoi(v) > 0 && atoi(v) <= 3600)
            ticket_ttl_s = atoi(v);
        else if (!strcmp(a, "--timeout") && atoi(v) > 0)
            timeout = lim.handshake_timeout = atoi(v);
        else {
            fprintf(stderr, "mgmt-agent: unknown option or bad value: %s %s\n%s", a, v, usage);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    char err[300];
    if (hvlink_open(sock, err, sizeof err)) {
        fprintf(stderr, "mgmt-agent: %s\n", err);
        return 1;
    }
    SSL_CTX *ctx = tls_server_ctx();
    if (!ctx || accounts_init(pwfile) || mtls_setup(ctx, client_ca))
        return 1;
    load_uuid();
    events_init();
    upload_config(); /* the settings: the NV store's, or the command line's stored */
    int lfd = listen_on(listen_spec);
    /* MHD's memory per connection: the hard cap on a request's headers (http.h HEADER_MAX). */
    struct MHD_Daemon *d =
        lfd < 0 ? NULL : http_start((unsigned)timeout, 96 * 1024, (unsigned)lim.max_conns);
    if (!d) {
        fprintf(stderr, "mgmt-agent: cannot start the HTTP engine\n");
        return 1;
    }
    fprintf(stderr, "mgmt-agent: serving https://%s/redfish/v1/ (certificate SHA-256 %s)\n",
            listen_spec, tls_fingerprint());
    if (boot_guest) {
        json_t *rep = hv_simple(json_pack("{s:s, s:s}", "op", "switch", "target", boot_guest));
        if (!hv_ok(rep))
            fprintf(stderr, "mgmt-agent: cannot boot %s: %s\n", boot_guest,
                    json_string_value(json_object_get(rep, "error")));
        json_decref(rep);
    }
    int rc = conn_loop(lfd, ctx, d, &lim, &stop);
    sse_close_all(); /* MHD cannot stop with connections suspended */
    MHD_run(d);
    MHD_stop_daemon(d);
    SSL_CTX_free(ctx);
    close(lfd);
    return rc ? 1 : 0;
}
