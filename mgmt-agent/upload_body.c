/* upload_body.c: the report body: metadata, then the core gzip-compressed while it streams from
 * hv (snapshot.read) and hashed on the way, so a core that changed is never acknowledged. */
#include "upload_body.h"
#include "hvlink.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define READ_CHUNK (1u << 20) /* per snapshot.read: the most of a core held at once */

enum phase { P_HEAD, P_CORE, P_TAIL, P_END };

struct up_body {
    char snap[64], sha256[65], type[96];
    char *head, *tail; /* the text before and after the core's bytes */
    size_t head_len, tail_len, off;
    enum phase phase;
    uint64_t size, read_at;
    struct hv_reply chunk; /* the chunk being compressed */
    z_stream z;
    int z_ready, z_end;
    int text_only;  /* up_body_text: the head is the whole body */
    uint64_t zeros; /* of a hole hv told of (snapshot.read "holes"), still to deflate */
    EVP_MD_CTX *md;
};

struct up_body *up_body_new(const char *snap, const char *metadata, uint64_t size,
                            const char *sha256)
{
    struct up_body *b = calloc(1, sizeof *b);
    unsigned char r[12];
    char bnd[40];
    if (!b)
        return NULL;
    RAND_bytes(r, sizeof r);
    int n = snprintf(bnd, sizeof bnd, "vigil-");
    for (unsigned i = 0; i < sizeof r; i++)
        n += snprintf(bnd + n, sizeof bnd - (size_t)n, "%02x", r[i]);
    snprintf(b->snap, sizeof b->snap, "%s", snap);
    snprintf(b->sha256, sizeof b->sha256, "%s", sha256);
    snprintf(b->type, sizeof b->type, "multipart/form-data; boundary=%s", bnd);
    b->size = size;
    int h = asprintf(&b->head,
                     "--%s\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
                     "Content-Type: application/json\r\n\r\n%s\r\n--%s\r\n"
                     "Content-Disposition: form-data; name=\"core\"; filename=\"%s.core.gz\"\r\n"
                     "Content-Type: application/gzip\r\n\r\n",
                     bnd, metadata, bnd, snap);
    int t = asprintf(&b->tail, "\r\n--%s--\r\n", bnd);
    b->md = EVP_MD_CTX_new();
    /* windowBits 15 + 16: gzip framing; level 1: the link, not the CPU, should be the limit. */
    if (h < 0 || t < 0 || !b->md || !EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) ||
        deflateInit2(&b->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        if (h < 0)
            b->head = NULL;
        if (t < 0)
            b->tail = NULL;
        up_body_free(b);
        return NULL;
    }
    b->z_ready = 1;
    b->head_len = (size_t)h, b->tail_len = (size_t)t;
    return b;
}

struct up_body *up_body_text(const char *type, const char *text)
{
    struct up_body *b = calloc(1, sizeof *b);
    if (!b || !(b->head = strdup(text))) {
        free(b);
        return NULL;
    }
    snprintf(b->type, sizeof b->type, "%s", type);
    b->head_len = strlen(text), b->text_only = 1;
    return b;
}

const char *up_body_type(const struct up_body *b)
{
    return b->type;
}

uint64_t up_body_core_read(const struct up_body *b)
{
    return b->read_at;
}

static const uint8_t zero_page[64 << 10];

/* The next chunk of the core into the deflater's input (or the next hole, as zeros made here
 * rather than read from hv): 0, or -1 with err. */
static int fetch(struct up_body *b, char *err, size_t errlen)
{
    hv_reply_free(&b->chunk);
    json_t *req =
        json_pack("{s:s, s:s, s:I, s:I, s:b}", "op", "snapshot.read", "id", b->snap, "offset",
                  (json_int_t)b->read_at, "len", (json_int_t)READ_CHUNK, "holes", 1);
    hv_call(req, NULL, 0, &b->chunk);
    json_decref(req);
    json_int_t hole = json_integer_value(json_object_get(b->chunk.json, "hole"));
    if (hv_ok(b->chunk.json) && hole > 0 && (uint64_t)hole <= b->size - b->read_at) {
        b->zeros = (uint64_t)hole;
        for (uint64_t left = b->zeros; left;) { /* the digest covers the zeros all the same */
            size_t n = left < sizeof zero_page ? (size_t)left : sizeof zero_page;
            EVP_DigestUpdate(b->md, zero_page, n);
            left -= n;
        }
        b->read_at += b->zeros;
    } else if (!hv_ok(b->chunk.json) || (b->chunk.data_len == 0 && b->read_at < b->size)) {
        const char *e = json_string_value(json_object_get(b->chunk.json, "error"));
        snprintf(err, errlen, "reading snapshot %s at %llu: %s", b->snap,
                 (unsigned long long)b->read_at, e ? e : "hv sent nothing");
        return -1;
    } else {
        EVP_DigestUpdate(b->md, b->chunk.data, b->chunk.data_len);
        b->read_at += b->chunk.data_len;
        b->z.next_in = b->chunk.data, b->z.avail_in = (uInt)b->chunk.data_len;
    }
    if (b->read_at >= b->size) {
        unsigned char d[32];
        char hex[65];
        EVP_DigestFinal_ex(b->md, d, NULL);
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (strcmp(hex, b->sha256)) {
            snprintf(err, errlen, "snapshot %s's core reads as SHA-256 %.16s..., not %.16s...",
                     b->snap, hex, b->sha256);
            return -1;
        }
    }
    return 0;
}

static ssize_t core(struct up_body *b, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    b->z.next_out = out, b->z.avail_out = (uInt)cap;
    while (b->z.avail_out == cap && !b->z_end) {
        if (b->z.avail_in == 0 && b->zeros) { /* a hole: deflated from zeros of our own */
            size_t n = b->zeros < sizeof zero_page ? (size_t)b->zeros : sizeof zero_page;
            b->z.next_in = (Bytef *)(uintptr_t)zero_page, b->z.avail_in = (uInt)n;
            b->zeros -= n;
        }
        if (b->z.avail_in == 0 && b->read_at < b->size && fetch(b, err, errlen))
            return -1;
        int flush =
            b->z.avail_in == 0 && !b->zeros && b->read_at >= b->size ? Z_FINISH : Z_NO_FLUSH;
        int rc = deflate(&b->z, flush);
        if (rc == Z_STREAM_END)
            b->z_end = 1;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return snprintf(err, errlen, "gzip: %s", b->z.msg ? b->z.msg : "deflate failed"), -1;
    }
    return (ssize_t)(cap - b->z.avail_out);
}

ssize_t up_body_read(struct up_body *b, uint8_t *out, size_t cap, char *err, size_t errlen)
{
    for (;;) {
        const char *text = b->phase == P_HEAD ? b->head : b->tail;
        size_t len = b->phase == P_HEAD ? b->head_len : b->tail_len;
        switch (b->phase) {
        case P_HEAD:
        case P_TAIL:
            if (b->off < len) {
                size_t n = len - b->off < cap ? len - b->off : cap;
                memcpy(out, text + b->off, n);
                b->off += n;
                return (ssize_t)n;
            }
            b->off = 0;
            b->phase = b->phase == P_HEAD && !b->text_only ? P_CORE : P_END;
            break;
        case P_CORE: {
            ssize_t n = core(b, out, cap, err, errlen);
            if (n != 0)
                return n;
            hv_reply_free(&b->chunk);
            b->phase = P_TAIL;
            break;
        }
        case P_END:
            return 0;
        }
    }
}

void up_body_free(struct up_body *b)
{
    if (!b)
        return;
    if (b->z_ready)
        deflateEnd(&b->z);
    hv_reply_free(&b->chunk);
    EVP_MD_CTX_free(b->md);
    free(b->head);
    free(b->tail);
    free(b);
}
