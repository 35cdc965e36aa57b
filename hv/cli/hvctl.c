/* hvctl.c: the local command-line client for hv's control socket. */
#include "control/ctl_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: hvctl [--socket PATH] COMMAND [ARGS]\n"
    "  status                  VMs, states, foreground, uptime, switch counts (JSON)\n"
    "  switch guest|service|VM make that VM the foreground VM\n"
    "  pause VM | resume VM    stop / restart one VM, foreground unchanged\n"
    "  boot VM                 boot a VM that has not run yet (a guest boots by a switch)\n"
    "  reset VM                reboot VM from its image (the service VM: hv restarts it)\n"
    "  poweroff VM | poweron VM   stop a guest for good (halted) / boot it afresh, foreground\n"
    "  nmi VM                  inject an NMI into a running VM (its own handler decides)\n"
    "  console VM              print VM's console output kept by hv\n"
    "  console VM --send TEXT  type TEXT (add \\n yourself, e.g. $'status\\n') into VM's console\n"
    "  console VM --attach     interactive console; Ctrl-] detaches\n"
    "  regs VM                 registers of a stopped VM (from the control structure)\n"
    "  stats [--reset]         switch latency statistics\n"
    "  sel [--follow|--json|--clear]  the system event log (follow: print new entries as they "
    "come)\n"
    "  sensors                 virtual BMC sensors (JSON)\n"
    "  policy get              the trap policy (events -> actions, watchdog, protected ranges)\n"
    "  policy set EVENT ACTION | policy set JSON   change it (e.g. policy set triple_fault reset)\n"
    "  service attach [IMG] | service detach   interpose / devirtualize a running guest\n"
    "  trap VM                 raise the operator event on VM (default action: freeze)\n"
    "  snapshot take VM        freeze VM, write a crash snapshot, let it run again (waits for\n"
    "                          the write; --no-wait prints the job at once)\n"
    "  snapshot list | show ID | delete ID   (sha256 is \"pending\" until computed)\n"
    "  snapshot export ID FILE copy a snapshot's core (sparse) to FILE\n"
    "  job ID                  a job's state (a snapshot being written), and its result\n"
    "  peek VM ADDR [LEN] [--virt] [--out FILE]  guest memory, hex dump (or raw to FILE)\n"
    "  gdb VM [--port N]       start VM's GDB stub, print where it listens (docs/gdb-stub.md)\n"
    "  metrics                 sensors and hv's counters, Prometheus text\n"
    "  nv list | get KEY | put KEY [FILE] | delete KEY   the NV store's records (get writes\n"
    "                          the value to stdout; put reads it from FILE or stdin)\n"
    "  call JSON               send one raw request, print the response\n"
    "  quit                    stop hv\n"
    "The socket defaults to $VIGIL_HV_SOCKET or /tmp/vigil-hv.sock.\n";

static int sock = -1;

static int connect_to(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "hvctl: socket path too long\n");
        exit(2);
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "hvctl: cannot connect to %s: %s (is hv running?)\n", path,
                strerror(errno));
        exit(2);
    }
    return fd;
}

static void write_all(const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(sock, p, n);
        if (w <= 0) {
            fprintf(stderr, "hvctl: sending: %s\n", strerror(errno));
            exit(2);
        }
        p += w;
        n -= (size_t)w;
    }
}

static void read_all(uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(sock, p, n);
        if (r <= 0) {
            fprintf(stderr, "hvctl: hv closed the connection\n");
            exit(2);
        }
        p += r;
        n -= (size_t)r;
    }
}

/* Sends a request and returns the response; *data gets the payload (malloc'd). */
static json_t *request(json_t *req, const void *data, uint32_t data_len, uint8_t **rdata,
                       uint32_t *rlen)
{
    uint8_t *frame;
    size_t n = ctl_encode(VIGIL_CTL_REQUEST, req, data, data_len, &frame);
    json_decref(req);
    if (!n) {
        fprintf(stderr, "hvctl: request too large\n");
        exit(2);
    }
    write_all(frame, n);
    free(frame);
    struct vigil_ctl_header h;
    read_all((uint8_t *)&h, sizeof h);
    if (h.magic != VIGIL_CTL_MAGIC || h.json_len > VIGIL_CTL_JSON_MAX ||
        h.data_len > VIGIL_CTL_DATA_MAX) {
        fprintf(stderr, "hvctl: malformed response header\n");
        exit(2);
    }
    uint8_t *buf = malloc(sizeof h + h.json_len + h.data_len);
    memcpy(buf, &h, sizeof h);
    read_all(buf + sizeof h, (size_t)h.json_len + h.data_len);
    struct ctl_msg msg;
    size_t used;
    char err[200];
    if (ctl_parse(buf, sizeof h + h.json_len + h.data_len, &msg, &used, err, sizeof err) !=
        CTL_PARSE_OK) {
        fprintf(stderr, "hvctl: bad response: %s\n", err);
        exit(2);
    }
    if (rdata) {
        *rdata = malloc(msg.data_len ? msg.data_len : 1);
        memcpy(*rdata, msg.data, msg.data_len);
        *rlen = msg.data_len;
    }
    free(buf);
    return msg.json;
}

/* Prints the response; returns the exit status (1 when ok is false). */
static int report(json_t *resp)
{
    int ok = json_is_true(json_object_get(resp, "ok"));
    if (!ok)
        fprintf(stderr, "hvctl: %s\n", json_string_value(json_object_get(resp, "error")));
    else
        json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_SORT_KEYS), putchar('\n');
    json_decref(resp);
    return !ok;
}

static int simple(const char *op, const char *key, const char *value)
{
    json_t *req = json_pack("{s:s}", "op", op);
    if (key)
        json_object_set_new(req, key, json_string(value));
    return report(request(req, NULL, 0, NULL, NULL));
}

/* Types text into a VM's console; prints nothing unless it fails. */
static int report_quiet(const char *vm, const char *text, size_t len)
{
    json_t *resp = request(json_pack("{s:s, s:s}", "op", "console.write", "vm", vm), text,
                           (uint32_t)len, NULL, NULL);
    if (json_is_true(json_object_get(resp, "ok"))) {
        json_decref(resp);
        return 0;
    }
    return report(resp);
}

static uint64_t console_dump(const char *vm, uint64_t from, int *status)
{
    uint8_t *data;
    uint32_t len;
    json_t *resp = request(
        json_pack("{s:s, s:s, s:I}", "op", "console.read", "vm", vm, "offset", (json_int_t)from),
        NULL, 0, &data, &len);
    if (!json_is_true(json_object_get(resp, "ok"))) {
        *status = report(resp);
        free(data);
        return from;
    }
    fwrite(data, 1, len, stdout);
    fflush(stdout);
    uint64_t next = (uint64_t)json_integer_value(json_object_get(resp, "next"));
    json_decref(resp);
    free(data);
    *status = 0;
    return next;
}

static int console_attach(const char *vm)
{
    struct termios saved, raw;
    bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR;
        tcsetattr(0, TCSANOW, &raw);
        fprintf(stderr, "[hvctl] attached to %s; Ctrl-] detaches\r\n", vm);
    }
    int status = 0;
    uint64_t off = console_dump(vm, 0, &status);
    while (!status) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char buf[256];
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0)
                break;
            if (memchr(buf, 0x1d, (size_t)n))
                break;
            status = report_quiet(vm, buf, (size_t)n);
        }
        off = console_dump(vm, off, &status);
    }
    if (tty)
        tcsetattr(0, TCSANOW, &saved);
    return status;
}

static void print_entry(json_t *e)
{
    json_t *oem = json_object_get(json_object_get(e, "Oem"), "Vigil");
    const char *vm = json_string_value(json_object_get(oem, "VM"));
    printf("%6s  %s  %-8s  %-14s  %s%s%s\n", json_string_value(json_object_get(e, "Id")),
           json_string_value(json_object_get(e, "Created")),
           json_string_value(json_object_get(e, "Severity")),
           json_string_value(json_object_get(oem, "EventType")), vm && *vm ? vm : "",
           vm && *vm ? ": " : "", json_string_value(json_object_get(e, "Message")));
}

static int sel_command(const char *opt)
{
    if (opt && !strcmp(opt, "--clear"))
        return report(request(json_pack("{s:s}", "op", "sel.clear"), NULL, 0, NULL, NULL));
    bool follow = opt && !strcmp(opt, "--follow"), as_json = opt && !strcmp(opt, "--json");
    json_int_t after = 0;
    for (;;) {
        json_t *resp =
            request(json_pack("{s:s, s:I}", "op", "sel", "after", after), NULL, 0, NULL, NULL);
        if (!json_is_true(json_object_get(resp, "ok")))
            return report(resp);
        if (as_json)
            return report(resp);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(resp, "entries"), i, e)
        {
            print_entry(e);
            after = json_integer_value(
                json_object_get(json_object_get(json_object_get(e, "Oem"), "Vigil"), "Id"));
            if (!after)
                after = strtoll(json_string_value(json_object_get(e, "Id")), NULL, 10);
        }
        fflush(stdout);
        json_decref(resp);
        if (!follow)
            return 0;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int policy_command(int argc, char **argv, int i)
{
    if (i < argc && !strcmp(argv[i], "get"))
        return simple("policy.get", NULL, NULL);
    if (i + 1 < argc && !strcmp(argv[i], "set")) {
        json_t *pol;
        if (argv[i + 1][0] == '{') {
            json_error_t e;
            pol = json_loads(argv[i + 1], 0, &e);
            if (!pol) {
                fprintf(stderr, "hvctl: invalid JSON: %s\n", e.text);
                return 2;
            }
        } else if (i + 2 < argc) {
            pol = json_pack("{s:{s:s}}", "events", argv[i + 1], argv[i + 2]);
        } else {
            fputs("hvctl: policy set EVENT ACTION, or policy set '{...}'\n", stderr);
            return 2;
        }
        return report(request(json_pack("{s:s, s:o}", "op", "policy.set", "policy", pol), NULL, 0,
                              NULL, NULL));
    }
    fputs("hvctl: policy get | policy set EVENT ACTION | policy set JSON\n", stderr);
    return 2;
}

/* Copies a sparse file, keeping its holes. */
static int copy_sparse(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC),
        outfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || outfd < 0) {
        fprintf(stderr, "hvctl: %s: %s\n", in < 0 ? from : to, strerror(errno));
        return 1;
    }
    off_t end = lseek(in, 0, SEEK_END), pos = 0;
    static char buf[1 << 20];
    while (pos < end) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            break;
        off_t hole = lseek(in, data, SEEK_HOLE);
        for (off_t at = data; at < hole;) {
            ssize_t n =
                pread(in, buf,
                      (size_t)(hole - at < (off_t)sizeof buf ? hole - at : (off_t)sizeof buf), at);
            if (n <= 0 || pwrite(outfd, buf, (size_t)n, at) != n) {
                fprintf(stderr, "hvctl: copying: %s\n", strerror(errno));
                return 1;
            }
            at += n;
        }
        pos = hole;
    }
    int rc = ftruncate(outfd, end) < 0 || fsync(outfd) < 0;
    close(in);
    close(outfd);
    return rc;
}

/* hv answers a take at once with a job and writes the core meanwhile (its main loop never
 * waits for it): hvctl waits here, asking after the job, and prints what a take gives. */
static int snapshot_take(const char *vm, bool wait)
{
    json_t *resp =
        request(json_pack("{s:s, s:s}", "op", "snapshot.take", "vm", vm), NULL, 0, NULL, NULL);
    if (!wait || !json_is_true(json_object_get(resp, "ok")))
        return report(resp);
    json_int_t id = json_integer_value(json_object_get(json_object_get(resp, "job"), "id"));
    for (;;) {
        json_t *jr = request(json_pack("{s:s, s:I}", "op", "job", "id", id), NULL, 0, NULL, NULL);
        json_t *job = json_object_get(jr, "job");
        const char *state = json_string_value(json_object_get(job, "state"));
        if (!json_is_true(json_object_get(jr, "ok")) || !state) {
            json_decref(resp);
            return report(jr);
        }
        if (strcmp(state, "running")) {
            json_t *snap = json_object_get(job, "snapshot");
            if (!snap) {
                fprintf(stderr, "hvctl: the snapshot of %s %s: %s\n", vm,
                        strcmp(state, "done") ? "failed" : "is gone already (retention)",
                        json_string_value(json_object_get(job, "error")));
                json_decref(jr);
                json_decref(resp);
                return 1;
            }
            json_object_set(resp, "snapshot", snap);
            json_object_del(resp, "job");
            json_decref(jr);
            return report(resp);
        }
        json_decref(jr);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int snapshot_command(int argc, char **argv, int i)
{
    const char *sub = i < argc ? argv[i] : "";
    const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(sub, "list"))
        return simple("snapshot.list", NULL, NULL);
    if (!strcmp(sub, "take") && arg)
        return snapshot_take(arg, !(i + 2 < argc && !strcmp(argv[i + 2], "--no-wait")));
    if (!strcmp(sub, "show") && arg)
        return simple("snapshot.show", "id", arg);
    if (!strcmp(sub, "delete") && arg)
        return simple("snapshot.delete", "id", arg);
    if (!strcmp(sub, "export") && arg && i + 2 < argc) {
        json_t *resp =
            request(json_pack("{s:s, s:s}", "op", "snapshot.show", "id", arg), NULL, 0, NULL, NULL);
        const char *path =
            json_string_value(json_object_get(json_object_get(resp, "snapshot"), "core_path"));
        if (!json_is_true(json_object_get(resp, "ok")) || !path)
            return report(resp);
        int rc = copy_sparse(path, argv[i + 2]);
        /* The digest is computed after the snapshot is written: say whether it was known. */
        const char *sha =
            json_string_value(json_object_get(json_object_get(resp, "snapshot"), "sha256"));
        if (!rc)
            printf("%s -> %s\nsha256 %s\n", path, argv[i + 2],
                   sha && strcmp(sha, "pending") ? sha
                                                 : "pending (`hvctl snapshot show` has it once "
                                                   "computed)");
        json_decref(resp);
        return rc;
    }
    fputs("hvctl: snapshot take VM [--no-wait] | list | show ID | export ID FILE | delete ID\n",
          stderr);
    return 2;
}

static void hexdump(const uint8_t *p, uint32_t len, unsigned long long base)
{
    for (uint32_t i = 0; i < len; i += 16) {
        printf("%016llx ", base + i);
        for (uint32_t j = 0; j < 16; j++)
            i + j < len ? printf(" %02x", p[i + j]) : printf("   ");
        printf("  ");
        for (uint32_t j = 0; j < 16 && i + j < len; j++)
            putchar(p[i + j] >= 0x20 && p[i + j] < 0x7f ? p[i + j] : '.');
        putchar('\n');
    }
}

static int peek_command(int argc, char **argv, int i)
{
    if (i + 1 >= argc) {
        fputs("hvctl: peek VM ADDR [LEN] [--virt] [--out FILE]\n", stderr);
        return 2;
    }
    const char *vm = argv[i], *outfile = NULL;
    unsigned long long addr = strtoull(argv[i + 1], NULL, 0), len = 256;
    bool virt = false;
    for (int k = i + 2; k < argc; k++) {
        if (!strcmp(argv[k], "--virt"))
            virt = true;
        else if (!strcmp(argv[k], "--out") && k + 1 < argc)
            outfile = argv[++k];
        else
            len = strtoull(argv[k], NULL, 0);
    }
    uint8_t *data;
    uint32_t n;
    char astr[24]; /* as a string: a kernel address does not fit a JSON integer */
    snprintf(astr, sizeof astr, "0x%llx", addr);
    json_t *resp = request(json_pack("{s:s, s:s, s:s, s:I, s:b}", "op", "peek", "vm", vm, "addr",
                                     astr, "len", (json_int_t)len, "virtual", virt),
                           NULL, 0, &data, &n);
    if (!json_is_true(json_object_get(resp, "ok"))) {
        free(data);
        return report(resp);
    }
    if (outfile) {
        FILE *f = fopen(outfile, "wb");
        if (!f || fwrite(data, 1, n, f) != n) {
            fprintf(stderr, "hvctl: %s: %s\n", outfile, strerror(errno));
            return 1;
        }
        fclose(f);
    } else {
        if (virt)
            printf("# %s\n", json_string_value(json_object_get(resp, "walk")));
        hexdump(data, n, addr);
    }
    free(data);
    json_decref(resp);
    return 0;
}

/* Prints the stub's endpoints and the gdb command line that attaches to it. */
static int gdb_command(int argc, char **argv, int i)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "gdb.start", "vm", argv[i]);
    if (i + 2 < argc && !strcmp(argv[i + 1], "--port"))
        json_object_set_new(req, "port", json_integer(atoll(argv[i + 2])));
    json_t *resp = request(req, NULL, 0, NULL, NULL);
    if (!json_is_true(json_object_get(resp, "ok")))
        return report(resp);
    const char *sockpath = json_string_value(json_object_get(resp, "socket"));
    json_int_t port = json_integer_value(json_object_get(resp, "port"));
    printf("socket %s\n", sockpath);
    if (port)
        printf("tcp 127.0.0.1:%lld\n", (long long)port);
    printf("attach: gdb IMAGE.elf -ex 'target remote %s'\n", sockpath);
    json_decref(resp);
    return 0;
}

/* Reads all of f (at most max + 1 bytes, so an oversized value reaches hv's own check). */
static uint8_t *slurp(FILE *f, size_t max, size_t *len)
{
    uint8_t *buf = malloc(max + 1);
    *len = buf ? fread(buf, 1, max + 1, f) : 0;
    return buf;
}

static int nv_command(int argc, char **argv, int i)
{
    const char *sub = i < argc ? argv[i] : "";
    const char *key = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(sub, "list"))
        return simple("nv.list", NULL, NULL);
    if (!strcmp(sub, "delete") && key)
        return simple("nv.delete", "key", key);
    if (!strcmp(sub, "get") && key) {
        uint8_t *data;
        uint32_t len;
        json_t *resp =
            request(json_pack("{s:s, s:s}", "op", "nv.get", "key", key), NULL, 0, &data, &len);
        int ok = json_is_true(json_object_get(resp, "ok"));
        if (ok)
            fwrite(data, 1, len, stdout);
        free(data);
        return ok ? (json_decref(resp), 0) : report(resp);
    }
    if (!strcmp(sub, "put") && key) {
        const char *file = i + 2 < argc ? argv[i + 2] : "-";
        FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "hvctl: %s: %s\n", file, strerror(errno));
            return 1;
        }
        size_t len;
        uint8_t *value = slurp(f, 64u * 1024u, &len);
        if (f != stdin)
            fclose(f);
        int rc = report(request(json_pack("{s:s, s:s}", "op", "nv.put", "key", key), value,
                                (uint32_t)len, NULL, NULL));
        free(value);
        return rc;
    }
    fputs("hvctl: nv list | get KEY | put KEY [FILE] | delete KEY\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = getenv("VIGIL_HV_SOCKET") ? getenv("VIGIL_HV_SOCKET") : "/tmp/vigil-hv.sock";
    int i = 1;
    if (i + 1 < argc && !strcmp(argv[i], "--socket")) {
        path = argv[i + 1];
        i += 2;
    }
    if (i >= argc || !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
        fputs(usage, i >= argc ? stderr : stdout);
        return i >= argc ? 2 : 0;
    }
    const char *cmd = argv[i++];
    const char *arg = i < argc ? argv[i] : NULL;
    sock = connect_to(path);
    if (!strcmp(cmd, "status") || !strcmp(cmd, "quit"))
        return simple(cmd, NULL, NULL);
    if (!strcmp(cmd, "switch") && arg)
        return simple("switch", "target", arg);
    if ((!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "boot") ||
         !strcmp(cmd, "regs")) &&
        arg)
        return simple(cmd, "vm", arg);
    if ((!strcmp(cmd, "reset") || !strcmp(cmd, "poweroff") || !strcmp(cmd, "poweron")) && arg) {
        char op[16];
        snprintf(op, sizeof op, "vm.%s", cmd);
        return simple(op, "vm", arg);
    }
    if (!strcmp(cmd, "nmi") && arg)
        return simple("nmi", "vm", arg);
    if (!strcmp(cmd, "sel"))
        return sel_command(arg);
    if (!strcmp(cmd, "policy"))
        return policy_command(argc, argv, i);
    if (!strcmp(cmd, "snapshot"))
        return snapshot_command(argc, argv, i);
    if (!strcmp(cmd, "peek"))
        return peek_command(argc, argv, i);
    if (!strcmp(cmd, "nv"))
        return nv_command(argc, argv, i);
    if (!strcmp(cmd, "gdb") && arg)
        return gdb_command(argc, argv, i);
    if (!strcmp(cmd, "job") && arg)
        return report(request(json_pack("{s:s, s:I}", "op", "job", "id", (json_int_t)atoll(arg)),
                              NULL, 0, NULL, NULL));
    if (!strcmp(cmd, "service") && arg && !strcmp(arg, "attach")) {
        json_t *req = json_pack("{s:s}", "op", "service.attach");
        if (i + 1 < argc)
            json_object_set_new(req, "image", json_string(argv[i + 1]));
        return report(request(req, NULL, 0, NULL, NULL));
    }
    if (!strcmp(cmd, "service") && arg && !strcmp(arg, "detach"))
        return simple("service.detach", NULL, NULL);
    if (!strcmp(cmd, "trap") && arg)
        return simple("trap", "vm", arg);
    if (!strcmp(cmd, "sensors"))
        return simple("sensors", NULL, NULL);
    if (!strcmp(cmd, "metrics")) {
        uint8_t *data;
        uint32_t len;
        json_t *resp = request(json_pack("{s:s}", "op", "metrics"), NULL, 0, &data, &len);
        if (!json_is_true(json_object_get(resp, "ok")))
            return report(resp);
        fwrite(data, 1, len, stdout);
        free(data);
        json_decref(resp);
        return 0;
    }
    if (!strcmp(cmd, "stats")) {
        json_t *req =
            json_pack("{s:s, s:b}", "op", "stats", "reset", arg && !strcmp(arg, "--reset"));
        return report(request(req, NULL, 0, NULL, NULL));
    }
    if (!strcmp(cmd, "call") && arg) {
        json_error_t e;
        json_t *req = json_loads(arg, 0, &e);
        if (!req) {
            fprintf(stderr, "hvctl: invalid JSON: %s\n", e.text);
            return 2;
        }
        return report(request(req, NULL, 0, NULL, NULL));
    }
    if (!strcmp(cmd, "console") && arg) {
        const char *opt = i + 1 < argc ? argv[i + 1] : NULL;
        if (opt && !strcmp(opt, "--send") && i + 2 < argc)
            return report_quiet(arg, argv[i + 2], strlen(argv[i + 2]));
        if (opt && !strcmp(opt, "--attach"))
            return console_attach(arg);
        int status;
        console_dump(arg, 0, &status);
        return status;
    }
    fputs(usage, stderr);
    return 2;
}
