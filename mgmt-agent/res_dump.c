/* res_dump.c: crash snapshots as Dump log entries; the core streamed with Range, ETag and
 * Repr-Digest, read from hv in chunks (snapshot.read), with no size cap. */
#include "hvlink.h"
#include "resources.h"
#include "upload.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENTRIES "/redfish/v1/Managers/hv/LogServices/Dump/Entries"
#define CHUNK   (4u << 20) /* per snapshot.read: large, so hv round trips stay few */

static const char *str(json_t *j, const char *key, const char *otherwise)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v ? v : otherwise;
}

static json_t *entry_json_base(json_t *s);

/* With the crash report's upload state when the uploader has one (Oem.Vigil.Upload). */
static json_t *entry_json(json_t *s)
{
    json_t *e = entry_json_base(s);
    json_t *up = upload_entry_status(json_string_value(json_object_get(s, "id")));
    if (up)
        json_object_set_new(json_object_get(json_object_get(e, "Oem"), "Vigil"), "Upload", up);
    return e;
}

static json_t *entry_json_base(json_t *s)
{
    const char *id = json_string_value(json_object_get(s, "id"));
    char path[160], data[200], msg[200];
    snprintf(path, sizeof path, ENTRIES "/%s", id);
    snprintf(data, sizeof data, "%s/attachment", path);
    snprintf(msg, sizeof msg, "crash snapshot of %s (%s)", str(s, "vm", "?"),
             str(s, "trigger", "?"));
    char ticket[200]; /* a single-use URL for <a download> (res_tickets.c) */
    snprintf(ticket, sizeof ticket, "%s/Actions/Oem/Vigil.DownloadTicket", path);
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:O, s:s,"
                  " s:{s:{s:O, s:O, s:O, s:O}}}",
                  "@odata.id", path, "@odata.type", "#LogEntry.v1_15_0.LogEntry", "Id", id, "Name",
                  "Crash snapshot", "EntryType", "Event", "DiagnosticDataType", "OEM",
                  "OEMDiagnosticDataType", "ELFCore", "Message", msg, "Created",
                  json_object_get(s, "time"), "Severity", "Critical", "AdditionalDataSizeBytes",
                  json_object_get(s, "core_bytes"), "AdditionalDataURI", data, "Oem", "Vigil", "VM",
                  json_object_get(s, "vm"), "Trigger", json_object_get(s, "trigger"), "Sha256",
                  json_object_get(s, "sha256"), "Rip", json_object_get(s, "rip"));
    json_object_set_new(
        e, "Actions", json_pack("{s:{s:{s:s}}}", "Oem", "#Vigil.DownloadTicket", "target", ticket));
    return e;
}

static int hv_only(struct req *q, struct resp *r)
{
    if (!strcmp(ARG(q, 1), "hv"))
        return 1;
    resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
    return 0;
}

void h_dump_entries(struct req *q, struct resp *r)
{
    json_t *rep = hv_only(q, r) ? hv_get(r, json_pack("{s:s}", "op", "snapshot.list")) : NULL;
    if (!rep)
        return;
    json_t *m = json_array(), *s;
    size_t i;
    json_array_foreach(json_object_get(rep, "snapshots"), i, s)
        json_array_append_new(m, entry_json(s));
    json_decref(rep);
    resp_json(r, 200,
              collection(ENTRIES, "#LogEntryCollection.LogEntryCollection", "Crash snapshots", m));
}

static json_t *show(struct req *q, struct resp *r)
{
    json_t *rep = hv_only(q, r)
                      ? hv_get(r, json_pack("{s:s, s:s}", "op", "snapshot.show", "id", ARG(q, 5)))
                      : NULL;
    json_t *s = json_incref(json_object_get(rep, "snapshot"));
    json_decref(rep);
    return s;
}

void h_dump_entry(struct req *q, struct resp *r)
{
    if (q->method == M_DELETE) {
        json_t *rep =
            hv_only(q, r)
                ? hv_get(r, json_pack("{s:s, s:s}", "op", "snapshot.delete", "id", ARG(q, 5)))
                : NULL;
        if (rep)
            r->status = 204;
        json_decref(rep);
        return;
    }
    json_t *s = show(q, r);
    if (s)
        resp_json(r, 200, entry_json(s));
    json_decref(s);
}

struct stream {
    char id[65];
    uint64_t start;        /* the first byte of the range in the core */
    struct hv_reply chunk; /* the last chunk hv sent */
    uint64_t chunk_at;     /* its offset in the body */
};

static ssize_t read_core(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    if (!st->chunk.json || pos < st->chunk_at || pos >= st->chunk_at + st->chunk.data_len) {
        hv_reply_free(&st->chunk);
        json_t *req = json_pack("{s:s, s:s, s:I, s:I}", "op", "snapshot.read", "id", st->id,
                                "offset", (json_int_t)(st->start + pos), "len", (json_int_t)CHUNK);
        hv_call(req, NULL, 0, &st->chunk);
        json_decref(req);
        st->chunk_at = pos;
        if (!hv_ok(st->chunk.json) || st->chunk.data_len == 0) {
            fprintf(stderr, "mgmt-agent: reading snapshot %s at %" PRIu64 " failed: %s\n", st->id,
                    st->start + pos, str(st->chunk.json, "error", "short read"));
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the client sees a short body */
        }
    }
    size_t off = (size_t)(pos - st->chunk_at), n = st->chunk.data_len - off;
    n = n < max ? n : max;
    memcpy(buf, st->chunk.data + off, n);
    return (ssize_t)n;
}

static void free_stream(void *cls)
{
    struct stream *st = cls;
    hv_reply_free(&st->chunk);
    free(st);
}

/* Parses one "bytes=a-b" range against size: 1 and [*a, *b], 0 for no usable Range header
 * (send it all), -1 when unsatisfiable (416). */
static int parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b)
{
    unsigned long long x, y;
    char c;
    if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
        return 0; /* several ranges: a full 200 is allowed (RFC 9110 14.2) */
    h += 6;
    if (sscanf(h, "-%llu%c", &y, &c) == 1) { /* the last y bytes */
        if (y == 0 || size == 0)
            return -1;
        *a = y >= size ? 0 : size - y, *b = size - 1;
        return 1;
    }
    int n = sscanf(h, "%llu-%llu%c", &x, &y, &c);
    if (n == 1 && h[strlen(h) - 1] == '-')
        y = size - 1;
    else if (n != 2 || y < x)
        return 0;
    if (x >= size)
        return -1;
    *a = x, *b = y >= size ? size - 1 : y;
    return 1;
}

void h_dump_data(struct req *q, struct resp *r)
{
    json_t *s = show(q, r);
    if (!s)
        return;
    uint64_t size = (uint64_t)json_integer_value(json_object_get(s, "core_bytes"));
    const char *hex = json_string_value(json_object_get(s, "sha256"));
    unsigned char md[32];
    char etag[70], digest[80], b64[48], crange[80], disp[120];
    for (int i = 0; hex && strlen(hex) == 64 && i < 32; i++)
        sscanf(hex + 2 * i, "%2hhx", &md[i]);
    if (!hex || strlen(hex) != 64) {
        json_decref(s);
        resp_header(r, "Retry-After", "2");
        return resp_error(r, 503, "ServiceTemporarilyUnavailable",
                          "snapshot %s is still being hashed; ask again shortly", ARG(q, 5));
    }
    EVP_EncodeBlock((unsigned char *)b64, md, 32);
    snprintf(etag, sizeof etag, "\"%s\"", hex); /* strong: the bytes' own SHA-256 */
    snprintf(digest, sizeof digest, "sha-256=:%s:", b64);
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.core\"", ARG(q, 5));
    json_decref(s);
    uint64_t a = 0, b = size ? size - 1 : 0;
    const char *ifr = req_header(q, "If-Range");
    int ranged = ifr && strcmp(ifr, etag) ? 0 : parse_range(req_header(q, "Range"), size, &a, &b);
    if (ranged < 0) {
        snprintf(crange, sizeof crange, "bytes */%" PRIu64, size);
        resp_error(r, 416, "GeneralError", "the range is outside the core's %" PRIu64 " bytes",
                   size);
        resp_header(r, "Content-Range", crange);
        return;
    }
    struct stream *st = calloc(1, sizeof *st);
    snprintf(st->id, sizeof st->id, "%s", ARG(q, 5));
    st->start = a;
    uint64_t len = size ? b - a + 1 : 0;
    r->raw = MHD_create_response_from_callback(len, 256 * 1024, read_core, st, free_stream);
    r->status = ranged ? 206 : 200;
    MHD_add_response_header(r->raw, "Content-Type", "application/octet-stream");
    MHD_add_response_header(r->raw, "Accept-Ranges", "bytes");
    MHD_add_response_header(r->raw, "ETag", etag);
    MHD_add_response_header(r->raw, "Repr-Digest", digest);
    MHD_add_response_header(r->raw, "Content-Disposition", disp);
    if (ranged) {
        snprintf(crange, sizeof crange, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, a, b, size);
        MHD_add_response_header(r->raw, "Content-Range", crange);
    }
}
