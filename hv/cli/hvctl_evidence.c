/* hvctl_evidence.c: hvctl commands for a stopped VM: snapshots, peeks and the GDB stub. */
#include "cli/hvctl.h"
#include "control/ctl_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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
    json_t *resp = hvctl_request(json_pack("{s:s, s:s}", "op", "snapshot.take", "vm", vm), NULL, 0,
                                 NULL, NULL);
    if (!wait || !json_is_true(json_object_get(resp, "ok")))
        return hvctl_report(resp);
    json_int_t id = json_integer_value(json_object_get(json_object_get(resp, "job"), "id"));
    for (;;) {
        json_t *jr =
            hvctl_request(json_pack("{s:s, s:I}", "op", "job", "id", id), NULL, 0, NULL, NULL);
        json_t *job = json_object_get(jr, "job");
        const char *state = json_string_value(json_object_get(job, "state"));
        if (!json_is_true(json_object_get(jr, "ok")) || !state) {
            json_decref(resp);
            return hvctl_report(jr);
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
            return hvctl_report(resp);
        }
        json_decref(jr);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int hvctl_snapshot_command(int argc, char **argv, int i)
{
    const char *sub = i < argc ? argv[i] : "";
    const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(sub, "list"))
        return hvctl_simple("snapshot.list", NULL, NULL);
    if (!strcmp(sub, "take") && arg)
        return snapshot_take(arg, !(i + 2 < argc && !strcmp(argv[i + 2], "--no-wait")));
    if (!strcmp(sub, "show") && arg)
        return hvctl_simple("snapshot.show", "id", arg);
    if (!strcmp(sub, "delete") && arg)
        return hvctl_simple("snapshot.delete", "id", arg);
    if (!strcmp(sub, "export") && arg && i + 2 < argc) {
        json_t *resp = hvctl_request(json_pack("{s:s, s:s}", "op", "snapshot.show", "id", arg),
                                     NULL, 0, NULL, NULL);
        const char *path =
            json_string_value(json_object_get(json_object_get(resp, "snapshot"), "core_path"));
        if (!json_is_true(json_object_get(resp, "ok")) || !path)
            return hvctl_report(resp);
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

int hvctl_peek_command(int argc, char **argv, int i)
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
    json_t *resp = hvctl_request(json_pack("{s:s, s:s, s:s, s:I, s:b}", "op", "peek", "vm", vm,
                                           "addr", astr, "len", (json_int_t)len, "virtual", virt),
                                 NULL, 0, &data, &n);
    if (!json_is_true(json_object_get(resp, "ok"))) {
        free(data);
        return hvctl_report(resp);
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
int hvctl_gdb_command(int argc, char **argv, int i)
{
    json_t *req = json_pack("{s:s, s:s}", "op", "gdb.start", "vm", argv[i]);
    if (i + 2 < argc && !strcmp(argv[i + 1], "--port"))
        json_object_set_new(req, "port", json_integer(atoll(argv[i + 2])));
    json_t *resp = hvctl_request(req, NULL, 0, NULL, NULL);
    if (!json_is_true(json_object_get(resp, "ok")))
        return hvctl_report(resp);
    const char *sockpath = json_string_value(json_object_get(resp, "socket"));
    json_int_t port = json_integer_value(json_object_get(resp, "port"));
    printf("socket %s\n", sockpath);
    if (port)
        printf("tcp 127.0.0.1:%lld\n", (long long)port);
    printf("attach: gdb IMAGE.elf -ex 'target remote %s'\n", sockpath);
    json_decref(resp);
    return 0;
}
