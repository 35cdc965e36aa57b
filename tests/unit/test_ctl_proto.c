/* test_ctl_proto.c: control-protocol framing: round trips, partial input, bad headers, bad JSON. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/ctl_proto.h"

#define HDR sizeof(struct vigil_ctl_header)

/* A frame with the given header fields and body; json_len/data_len are the header's claims and
 * body_len the bytes actually present after the header. */
struct frame {
    uint8_t *buf;
    size_t len;
};

static struct frame make_frame(uint32_t magic, uint16_t version, uint16_t kind, uint32_t json_len,
                               uint32_t data_len, const void *body, size_t body_len)
{
    struct vigil_ctl_header h = {.magic = magic,
                                 .version = version,
                                 .kind = kind,
                                 .json_len = json_len,
                                 .data_len = data_len};
    struct frame f = {.len = HDR + body_len};
    f.buf = malloc(f.len);
    assert_non_null(f.buf);
    memcpy(f.buf, &h, HDR);
    if (body_len)
        memcpy(f.buf + HDR, body, body_len);
    return f;
}

/* A well-formed frame around arbitrary JSON text and data. */
static struct frame json_frame(const char *json, const char *data)
{
    size_t jl = strlen(json), dl = data ? strlen(data) : 0;
    char *body = malloc(jl + dl + 1);
    assert_non_null(body);
    memcpy(body, json, jl);
    if (dl)
        memcpy(body + jl, data, dl);
    struct frame f = make_frame(VIGIL_CTL_MAGIC, VIGIL_CTL_VERSION, VIGIL_CTL_REQUEST, (uint32_t)jl,
                                (uint32_t)dl, body, jl + dl);
    free(body);
    return f;
}

/* Copies n bytes into a buffer of exactly n bytes, so ASan catches reads past the end. */
static uint8_t *exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    if (n)
        memcpy(b, p, n);
    return b;
}

static void assert_contains(const char *s, const char *needle)
{
    if (!strstr(s, needle))
        fail_msg("\"%s\" does not mention \"%s\"", s, needle);
}

/* Parses the first n bytes of buf and expects a BAD_FRAME naming `needle`. */
static void expect_bad_frame(const uint8_t *buf, size_t n, const char *needle)
{
    uint8_t *b = exact(buf, n);
    struct ctl_msg msg = {0};
    size_t used = 12345;
    char err[256] = "";
    assert_int_equal(ctl_parse(b, n, &msg, &used, err, sizeof err), CTL_PARSE_BAD_FRAME);
    assert_contains(err, needle);
    assert_null(msg.json);
    free(b);
}

static void test_round_trip(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s, s:s, s:i, s:[i,i]}", "op", "console", "vm", "guest", "n", 42,
                          "list", 1, 2);
    assert_non_null(j);
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(255 - i); /* includes 0x00 and 0xff */
    uint8_t *out = NULL;
    size_t len = ctl_encode(VIGIL_CTL_RESPONSE, j, data, sizeof data, &out);
    assert_non_null(out);
    char *text = json_dumps(j, JSON_COMPACT);
    size_t jl = strlen(text);
    assert_int_equal(len, HDR + jl + sizeof data);

    /* The header on the wire, little-endian. */
    assert_memory_equal(out, "VCTL", 4);
    assert_int_equal(out[4] | out[5] << 8, VIGIL_CTL_VERSION);
    assert_int_equal(out[6] | out[7] << 8, VIGIL_CTL_RESPONSE);
    assert_int_equal((uint32_t)out[8] | (uint32_t)out[9] << 8 | (uint32_t)out[10] << 16 |
                         (uint32_t)out[11] << 24,
                     jl);
    assert_int_equal((uint32_t)out[12] | (uint32_t)out[13] << 8, sizeof data);
    assert_memory_equal(out + HDR, text, jl);

    uint8_t *b = exact(out, len);
    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[256] = "";
    assert_int_equal(ctl_parse(b, len, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_int_equal(used, len);
    assert_int_equal(msg.kind, VIGIL_CTL_RESPONSE);
    assert_true(json_equal(msg.json, j));
    assert_string_equal(json_string_value(json_object_get(msg.json, "op")), "console");
    assert_int_equal(json_integer_value(json_object_get(msg.json, "n")), 42);
    assert_ptr_equal(msg.data, b + HDR + jl);
    assert_int_equal(msg.data_len, sizeof data);
    assert_memory_equal(msg.data, data, sizeof data);
    json_decref(msg.json);
    free(b);
    free(text);
    free(out);
    json_decref(j);
}

static void test_round_trip_no_data(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s}", "op", "status");
    uint8_t *out = NULL;
    size_t len = ctl_encode(VIGIL_CTL_REQUEST, j, NULL, 0, &out);
    assert_int_equal(len, HDR + strlen("{\"op\":\"status\"}"));
    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[256] = "";
    assert_int_equal(ctl_parse(out, len, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_int_equal(used, len);
    assert_int_equal(msg.kind, VIGIL_CTL_REQUEST);
    assert_int_equal(msg.data_len, 0);
    assert_true(json_equal(msg.json, j));
    json_decref(msg.json);
    free(out);
    json_decref(j);
}

static void test_need_more_every_prefix(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:s, s:i}", "op", "write", "addr", 4096);
    const char data[] = "0123456789";
    uint8_t *out = NULL;
    size_t len = ctl_encode(VIGIL_CTL_REQUEST, j, data, 10, &out);
    assert_true(len > HDR + 10);
    for (size_t n = 0; n < len; n++) {
        uint8_t *b = exact(out, n);
        struct ctl_msg msg = {0};
        size_t used = 777;
        char err[64] = "";
        enum ctl_parse r = ctl_parse(b, n, &msg, &used, err, sizeof err);
        if (r != CTL_PARSE_NEED_MORE)
            fail_msg("prefix of %zu/%zu bytes: result %d (%s)", n, len, r, err);
        assert_int_equal(used, 777);
        assert_null(msg.json);
        free(b);
    }
    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[64] = "";
    assert_int_equal(ctl_parse(out, len, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_int_equal(used, len);
    json_decref(msg.json);
    free(out);
    json_decref(j);
}

static void test_bad_frames(void **state)
{
    (void)state;
    static const char body[] = "{}";
    struct {
        uint32_t magic;
        uint16_t version, kind;
        uint32_t json_len, data_len;
        const char *needle;
    } cases[] = {
        {0x4c544357, 1, 1, 2, 0, "bad magic 0x4c544357"},
        {0, 1, 1, 2, 0, "bad magic"},
        {VIGIL_CTL_MAGIC, 2, 1, 2, 0, "protocol version 2 is not supported"},
        {VIGIL_CTL_MAGIC, 0, 1, 2, 0, "protocol version 0"},
        {VIGIL_CTL_MAGIC, 1, 0, 2, 0, "unknown message kind 0"},
        {VIGIL_CTL_MAGIC, 1, 3, 2, 0, "unknown message kind 3"},
        {VIGIL_CTL_MAGIC, 1, 1, 0, 0, "JSON length 0 outside"},
        {VIGIL_CTL_MAGIC, 1, 1, VIGIL_CTL_JSON_MAX + 1, 0, "JSON length 65537 outside"},
        {VIGIL_CTL_MAGIC, 1, 1, UINT32_MAX, 0, "JSON length 4294967295"},
        {VIGIL_CTL_MAGIC, 1, 1, 2, VIGIL_CTL_DATA_MAX + 1, "data length 16777217 exceeds"},
        {VIGIL_CTL_MAGIC, 1, 1, 2, UINT32_MAX, "data length 4294967295"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct frame f = make_frame(cases[i].magic, cases[i].version, cases[i].kind,
                                    cases[i].json_len, cases[i].data_len, body, 2);
        /* Refused as soon as the header is in: no waiting for a huge body. */
        expect_bad_frame(f.buf, HDR, cases[i].needle);
        expect_bad_frame(f.buf, f.len, cases[i].needle);
        free(f.buf);
    }
}

static void test_length_limits_accepted(void **state)
{
    (void)state;
    /* Exactly VIGIL_CTL_JSON_MAX bytes of JSON: {"a":"xxx...x"} */
    char *json = malloc(VIGIL_CTL_JSON_MAX + 1);
    assert_non_null(json);
    memset(json, 'x', VIGIL_CTL_JSON_MAX);
    memcpy(json, "{\"a\":\"", 6);
    memcpy(json + VIGIL_CTL_JSON_MAX - 2, "\"}", 2);
    json[VIGIL_CTL_JSON_MAX] = '\0';
    struct frame f = json_frame(json, NULL);
    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[256] = "";
    assert_int_equal(ctl_parse(f.buf, f.len, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_int_equal(used, HDR + VIGIL_CTL_JSON_MAX);
    assert_int_equal(strlen(json_string_value(json_object_get(msg.json, "a"))),
                     VIGIL_CTL_JSON_MAX - 8);
    json_decref(msg.json);
    free(f.buf);
    free(json);

    /* The largest data length is a wait for more, not an error. */
    f = make_frame(VIGIL_CTL_MAGIC, 1, VIGIL_CTL_REQUEST, 2, VIGIL_CTL_DATA_MAX, "{}", 2);
    assert_int_equal(ctl_parse(f.buf, f.len, &msg, &used, err, sizeof err), CTL_PARSE_NEED_MORE);
    free(f.buf);
}

static void test_bad_json_continues(void **state)
{
    (void)state;
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{bad", "invalid JSON"},
        {"[1,2]", "not an object"},
        {"\"str\"", "invalid JSON"},           /* jansson refuses a bare scalar itself */
        {"{\"a\":1,\"a\":2}", "invalid JSON"}, /* duplicate key */
        {"{} {}", "invalid JSON"},             /* trailing garbage */
    };
    json_t *ok = json_pack("{s:s}", "op", "status");
    uint8_t *good = NULL;
    size_t good_len = ctl_encode(VIGIL_CTL_REQUEST, ok, NULL, 0, &good);
    assert_true(good_len > 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct frame bad = json_frame(cases[i].json, "DATA");
        /* The bad frame, then a good one, in one stream. */
        size_t len = bad.len + good_len;
        uint8_t *stream = malloc(len);
        assert_non_null(stream);
        memcpy(stream, bad.buf, bad.len);
        memcpy(stream + bad.len, good, good_len);

        struct ctl_msg msg = {0};
        size_t used = 0;
        char err[256] = "";
        assert_int_equal(ctl_parse(stream, len, &msg, &used, err, sizeof err), CTL_PARSE_BAD_JSON);
        assert_int_equal(used, bad.len);
        assert_contains(err, cases[i].needle);
        assert_null(msg.json);

        assert_int_equal(ctl_parse(stream + used, len - used, &msg, &used, err, sizeof err),
                         CTL_PARSE_OK);
        assert_int_equal(used, good_len);
        assert_true(json_equal(msg.json, ok));
        json_decref(msg.json);
        free(stream);
        free(bad.buf);
    }
    free(good);
    json_decref(ok);
}

static void test_back_to_back(void **state)
{
    (void)state;
    json_t *a = json_pack("{s:s, s:i}", "op", "first", "seq", 1);
    json_t *b = json_pack("{s:b, s:s}", "ok", 1, "note", "second");
    uint8_t *fa = NULL, *fb = NULL;
    size_t la = ctl_encode(VIGIL_CTL_REQUEST, a, "abc", 3, &fa);
    size_t lb = ctl_encode(VIGIL_CTL_RESPONSE, b, "Z", 1, &fb);
    assert_true(la > 0 && lb > 0);
    size_t len = la + lb;
    uint8_t *stream = malloc(len);
    assert_non_null(stream);
    memcpy(stream, fa, la);
    memcpy(stream + la, fb, lb);

    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[256] = "";
    assert_int_equal(ctl_parse(stream, len, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_int_equal(used, la);
    assert_int_equal(msg.kind, VIGIL_CTL_REQUEST);
    assert_true(json_equal(msg.json, a));
    assert_int_equal(msg.data_len, 3);
    assert_memory_equal(msg.data, "abc", 3);
    json_decref(msg.json);

    /* The second frame, first partially, then whole. */
    uint8_t *part = exact(stream + la, lb - 1);
    assert_int_equal(ctl_parse(part, lb - 1, &msg, &used, err, sizeof err), CTL_PARSE_NEED_MORE);
    free(part);
    assert_int_equal(ctl_parse(stream + la, len - la, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_int_equal(used, lb);
    assert_int_equal(msg.kind, VIGIL_CTL_RESPONSE);
    assert_true(json_equal(msg.json, b));
    assert_int_equal(msg.data_len, 1);
    assert_int_equal(msg.data[0], 'Z');
    json_decref(msg.json);

    free(stream);
    free(fa);
    free(fb);
    json_decref(a);
    json_decref(b);
}

static void test_encode_limits(void **state)
{
    (void)state;
    char *big = malloc(VIGIL_CTL_JSON_MAX + 1);
    assert_non_null(big);
    memset(big, 'y', VIGIL_CTL_JSON_MAX);
    big[VIGIL_CTL_JSON_MAX] = '\0';
    json_t *j = json_pack("{s:s}", "a", big); /* dumps to more than the maximum */
    uint8_t *out = NULL;
    assert_int_equal(ctl_encode(VIGIL_CTL_RESPONSE, j, NULL, 0, &out), 0);
    json_decref(j);
    free(big);

    j = json_pack("{}");
    uint8_t one = 0;
    /* data_len over the maximum is refused before any data is read. */
    assert_int_equal(ctl_encode(VIGIL_CTL_RESPONSE, j, &one, VIGIL_CTL_DATA_MAX + 1, &out), 0);
    json_decref(j);
}

static void test_ctl_error_shape(void **state)
{
    (void)state;
    json_t *e = ctl_error("NO_SUCH_VM", "no VM named %s (%d known)", "foo", 2);
    assert_non_null(e);
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 3);
    assert_true(json_is_false(json_object_get(e, "ok")));
    assert_string_equal(json_string_value(json_object_get(e, "error")),
                        "no VM named foo (2 known)");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "NO_SUCH_VM");

    /* It survives the wire. */
    uint8_t *out = NULL;
    size_t len = ctl_encode(VIGIL_CTL_RESPONSE, e, NULL, 0, &out);
    struct ctl_msg msg = {0};
    size_t used = 0;
    char err[64] = "";
    assert_int_equal(ctl_parse(out, len, &msg, &used, err, sizeof err), CTL_PARSE_OK);
    assert_true(json_equal(msg.json, e));
    json_decref(msg.json);
    free(out);
    json_decref(e);

    /* A very long message is truncated, not overflowed. */
    char longmsg[2000];
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    e = ctl_error("X", "%s", longmsg);
    const char *s = json_string_value(json_object_get(e, "error"));
    assert_non_null(s);
    assert_true(strlen(s) > 0 && strlen(s) < sizeof longmsg - 1);
    assert_int_equal(strspn(s, "m"), strlen(s));
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_no_data),
        cmocka_unit_test(test_need_more_every_prefix),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_length_limits_accepted),
        cmocka_unit_test(test_bad_json_continues),
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_ctl_error_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
