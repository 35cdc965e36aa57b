/* hvctl_link.c: hvctl's link to hv's control socket: one framed request, its answer. */
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
#include <unistd.h>

static int sock = -1; /* the control socket, opened once by hvctl_connect */

void hvctl_connect(const char *path)
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
    sock = fd;
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
json_t *hvctl_request(json_t *req, const void *data, uint32_t data_len, uint8_t **rdata,
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
int hvctl_report(json_t *resp)
{
    int ok = json_is_true(json_object_get(resp, "ok"));
    if (!ok)
        fprintf(stderr, "hvctl: %s\n", json_string_value(json_object_get(resp, "error")));
    else
        json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_SORT_KEYS), putchar('\n');
    json_decref(resp);
    return !ok;
}

int hvctl_simple(const char *op, const char *key, const char *value)
{
    json_t *req = json_pack("{s:s}", "op", op);
    if (key)
        json_object_set_new(req, key, json_string(value));
    return hvctl_report(hvctl_request(req, NULL, 0, NULL, NULL));
}
