/* websocket.c: RFC 6455 framing: the handshake's accept key, client frames in, server frames out.
 */
#include "websocket.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int ws_accept_key(const char *key, char out[29])
{
    unsigned char raw[24];
    size_t n = strlen(key);
    /* 16 bytes in base64 are 24 characters, the last two "==". */
    if (n != 24 || key[22] != '=' || key[23] != '=' ||
        EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
        return -1;
    char buf[64];
    snprintf(buf, sizeof buf, "%s" GUID, key);
    unsigned char sha[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)buf, strlen(buf), sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
    return 0;
}

int ws_parse(uint8_t *buf, size_t n, size_t max, struct ws_frame *f, const char **why)
{
    if (n < 2)
        return 0;
    f->fin = buf[0] >> 7;
    f->op = buf[0] & 0x0f;
    int masked = buf[1] >> 7;
    uint64_t len = buf[1] & 0x7f;
    size_t h = 2;
    if (buf[0] & 0x70)
        return *why = "reserved bits set (no extension was negotiated)", WS_PROTOCOL_ERROR;
    if (f->op != WS_CONT && f->op != WS_TEXT && f->op != WS_BINARY && f->op != WS_CLOSE &&
        f->op != WS_PING && f->op != WS_PONG)
        return *why = "unknown opcode", WS_PROTOCOL_ERROR;
    if (!masked)
        return *why = "client frames must be masked", WS_PROTOCOL_ERROR;
    if (f->op >= WS_CLOSE && (!f->fin || len > 125))
        return *why = "control frames must be whole and at most 125 bytes", WS_PROTOCOL_ERROR;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        h = 10;
    }
    if (len > max)
        return *why = "frame larger than the agent accepts", WS_TOO_BIG;
    if (n < h + 4 + len)
        return 0;
    const uint8_t *mask = buf + h;
    f->payload = buf + h + 4;
    f->len = (size_t)len;
    for (size_t i = 0; i < f->len; i++)
        f->payload[i] ^= mask[i & 3];
    f->size = h + 4 + f->len;
    return 1;
}

size_t ws_header(uint8_t hdr[WS_HDR_MAX], int op, size_t len)
{
    hdr[0] = (uint8_t)(0x80 | op);
    if (len < 126) {
        hdr[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(len >> 8);
        hdr[3] = (uint8_t)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}
