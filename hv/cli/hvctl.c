/* hvctl.c: the local command-line client for hv's control socket. */
#include "cli/hvctl.h"
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

/* Types text into a VM's console; prints nothing unless it fails. */
static int report_quiet(const char *vm, const char *text, size_t len)
{
    json_t *resp = hvctl_request(json_pack("{s:s, s:s}", "op", "console.write", "vm", vm), text,
                                 (uint32_t)len, NULL, NULL);
    if (json_is_true(json_object_get(resp, "ok"))) {
        json_decref(resp);
        return 0;
    }
    return hvctl_report(resp);
}

static uint64_t console_dump(const char *vm, uint64_t from, int *status)
{
    uint8_t *data;
    uint32_t len;
    json_t *resp = hvctl_request(
        json_pack("{s:s, s:s, s:I}", "op", "console.read", "vm", vm, "offset", (json_int_t)from),
        NULL, 0, &data, &len);
    if (!json_is_true(json_object_get(resp, "ok"))) {
        *status = hvctl_report(resp);
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
        return hvctl_report(
            hvctl_request(json_pack("{s:s}", "op", "sel.clear"), NULL, 0, NULL, NULL));
    bool follow = opt && !strcmp(opt, "--follow"), as_json = opt && !strcmp(opt, "--json");
    json_int_t after = 0;
    for (;;) {
        json_t *resp = hvctl_request(json_pack("{s:s, s:I}", "op", "sel", "after", after), NULL, 0,
                                     NULL, NULL);
        if (!json_is_true(json_object_get(resp, "ok")))
            return hvctl_report(resp);
        if (as_json)
            return hvctl_report(resp);
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
        return hvctl_simple("policy.get", NULL, NULL);
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
        return hvctl_report(hvctl_request(
            json_pack("{s:s, s:o}", "op", "policy.set", "policy", pol), NULL, 0, NULL, NULL));
    }
    fputs("hvctl: policy get | policy set EVENT ACTION | policy set JSON\n", stderr);
    return 2;
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
        return hvctl_simple("nv.list", NULL, NULL);
    if (!strcmp(sub, "delete") && key)
        return hvctl_simple("nv.delete", "key", key);
    if (!strcmp(sub, "get") && key) {
        uint8_t *data;
        uint32_t len;
        json_t *resp = hvctl_request(json_pack("{s:s, s:s}", "op", "nv.get", "key", key), NULL, 0,
                                     &data, &len);
        int ok = json_is_true(json_object_get(resp, "ok"));
        if (ok)
            fwrite(data, 1, len, stdout);
        free(data);
        return ok ? (json_decref(resp), 0) : hvctl_report(resp);
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
        int rc = hvctl_report(hvctl_request(json_pack("{s:s, s:s}", "op", "nv.put", "key", key),
                                            value, (uint32_t)len, NULL, NULL));
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
    hvctl_connect(path);
    if (!strcmp(cmd, "status") || !strcmp(cmd, "quit"))
        return hvctl_simple(cmd, NULL, NULL);
    if (!strcmp(cmd, "switch") && arg)
        return hvctl_simple("switch", "target", arg);
    if ((!strcmp(cmd, "pause") || !strcmp(cmd, "resume") || !strcmp(cmd, "boot") ||
         !strcmp(cmd, "regs")) &&
        arg)
        return hvctl_simple(cmd, "vm", arg);
    if ((!strcmp(cmd, "reset") || !strcmp(cmd, "poweroff") || !strcmp(cmd, "poweron")) && arg) {
        char op[16];
        snprintf(op, sizeof op, "vm.%s", cmd);
        return hvctl_simple(op, "vm", arg);
    }
    if (!strcmp(cmd, "nmi") && arg)
        return hvctl_simple("nmi", "vm", arg);
    if (!strcmp(cmd, "sel"))
        return sel_command(arg);
    if (!strcmp(cmd, "policy"))
        return policy_command(argc, argv, i);
    if (!strcmp(cmd, "snapshot"))
        return hvctl_snapshot_command(argc, argv, i);
    if (!strcmp(cmd, "peek"))
        return hvctl_peek_command(argc, argv, i);
    if (!strcmp(cmd, "nv"))
        return nv_command(argc, argv, i);
    if (!strcmp(cmd, "gdb") && arg)
        return hvctl_gdb_command(argc, argv, i);
    if (!strcmp(cmd, "job") && arg)
        return hvctl_report(
            hvctl_request(json_pack("{s:s, s:I}", "op", "job", "id", (json_int_t)atoll(arg)), NULL,
                          0, NULL, NULL));
    if (!strcmp(cmd, "service") && arg && !strcmp(arg, "attach")) {
        json_t *req = json_pack("{s:s}", "op", "service.attach");
        if (i + 1 < argc)
            json_object_set_new(req, "image", json_string(argv[i + 1]));
        return hvctl_report(hvctl_request(req, NULL, 0, NULL, NULL));
    }
    if (!strcmp(cmd, "service") && arg && !strcmp(arg, "detach"))
        return hvctl_simple("service.detach", NULL, NULL);
    if (!strcmp(cmd, "trap") && arg)
        return hvctl_simple("trap", "vm", arg);
    if (!strcmp(cmd, "sensors"))
        return hvctl_simple("sensors", NULL, NULL);
    if (!strcmp(cmd, "metrics")) {
        uint8_t *data;
        uint32_t len;
        json_t *resp = hvctl_request(json_pack("{s:s}", "op", "metrics"), NULL, 0, &data, &len);
        if (!json_is_true(json_object_get(resp, "ok")))
            return hvctl_report(resp);
        fwrite(data, 1, len, stdout);
        free(data);
        json_decref(resp);
        return 0;
    }
    if (!strcmp(cmd, "stats")) {
        json_t *req =
            json_pack("{s:s, s:b}", "op", "stats", "reset", arg && !strcmp(arg, "--reset"));
        return hvctl_report(hvctl_request(req, NULL, 0, NULL, NULL));
    }
    if (!strcmp(cmd, "call") && arg) {
        json_error_t e;
        json_t *req = json_loads(arg, 0, &e);
        if (!req) {
            fprintf(stderr, "hvctl: invalid JSON: %s\n", e.text);
            return 2;
        }
        return hvctl_report(hvctl_request(req, NULL, 0, NULL, NULL));
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
