/* ctl_proto.h: encoding and decoding control-protocol messages (include/vigil/ctlproto.h). */
#ifndef HV_CTL_PROTO_H
#define HV_CTL_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <vigil/ctlproto.h>

/* A decoded message; json is owned by the caller (json_decref). */
struct ctl_msg {
    uint16_t kind;
    json_t *json;
    const uint8_t *data; /* points into the input buffer */
    uint32_t data_len;
};

enum ctl_parse {
    CTL_PARSE_NEED_MORE = 0,  /* not a whole message yet */
    CTL_PARSE_OK = 1,         /* *used bytes form one message */
    CTL_PARSE_BAD_FRAME = -1, /* the header is unacceptable: close the connection */
    CTL_PARSE_BAD_JSON = -2,  /* the frame is fine, its JSON is not: answer, keep going */
};

/* Parses one message from buf.  On OK and BAD_JSON, *used is the frame's
 * length.  err receives a message on failure. */
enum ctl_parse ctl_parse(const uint8_t *buf, size_t len, struct ctl_msg *msg, size_t *used,
                         char *err, size_t errlen);

/* Encodes a message into a malloc'd buffer; returns its length or 0 on failure. */
size_t ctl_encode(uint16_t kind, const json_t *json, const void *data, uint32_t data_len,
                  uint8_t **out);

/* Convenience for the error response shape. */
json_t *ctl_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
