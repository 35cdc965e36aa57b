/* websocket.h: RFC 6455 framing: the handshake's accept key, client frames in, server frames out.
 */
#ifndef AGENT_WEBSOCKET_H
#define AGENT_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

enum ws_op { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* Close codes (RFC 6455 section 7.4.1) the agent sends. */
enum ws_code {
    WS_NORMAL = 1000,
    WS_GOING_AWAY = 1001,
    WS_PROTOCOL_ERROR = 1002,
    WS_POLICY = 1008,
    WS_TOO_BIG = 1009,
    WS_INTERNAL = 1011,
};

#define WS_HDR_MAX 14 /* the longest frame header: 2 + 8 (length) + 4 (mask) */

/* One parsed client frame; payload points into the caller's buffer, unmasked in place. */
struct ws_frame {
    int fin, op;
    uint8_t *payload;
    size_t len;
    size_t size; /* header + payload: how much of the buffer the frame took */
};

/* Parses the client frame at buf[0..n). Returns 1 with f filled, 0 when the frame is not complete
 * yet, or a close code (> 1) with *why naming the problem: an unmasked frame, reserved bits
 * (no extension is negotiated), an unknown opcode, a fragmented or long (> 125) control frame
 * (1002), a payload over max (1009). */
int ws_parse(uint8_t *buf, size_t n, size_t max, struct ws_frame *f, const char **why);

/* Writes the header of an unfragmented, unmasked server frame; returns its length. */
size_t ws_header(uint8_t hdr[WS_HDR_MAX], int op, size_t len);

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + RFC GUID)).
 * Returns 0, or -1 when the key is not base64 of 16 bytes (a 400 for the handshake). */
int ws_accept_key(const char *key, char out[29]);

#endif
