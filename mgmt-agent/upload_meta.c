/* upload_meta.c: what a collector learns about a crash besides its core (docs/upload.md). */
#include "upload_meta.h"
#include "hvlink.h"

#include <string.h>

#define SEL_BEFORE   10   /* SEL entries up to the crash's own ... */
#define SEL_AFTER    10   /* ... and after it */
#define CONSOLE_TAIL 4096 /* the console's last bytes, cut to whole lines */

static json_t *sel_around(json_int_t sel_id)
{
    json_int_t after = sel_id > SEL_BEFORE ? sel_id - SEL_BEFORE - 1 : 0;
    json_t *rep = hv_simple(json_pack("{s:s, s:I, s:i}", "op", "sel", "after", after, "max",
                                      SEL_BEFORE + 1 + SEL_AFTER));
    json_t *e = json_incref(json_object_get(rep, "entries"));
    json_decref(rep);
    return e ? e : json_array();
}

static json_t *vm_status(const char *vm)
{
    json_t *rep = hv_simple(json_pack("{s:s}", "op", "status")), *v, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(rep, "vms"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (!found && name && !strcmp(vm, name))
            found = json_incref(v);
    }
    json_decref(rep);
    return found;
}

static json_t *console_tail(const char *vm, json_int_t total)
{
    json_int_t off = total > CONSOLE_TAIL ? total - CONSOLE_TAIL : 0;
    json_t *req = json_pack("{s:s, s:s, s:I, s:i}", "op", "console.read", "vm", vm, "offset", off,
                            "max", CONSOLE_TAIL);
    struct hv_reply r;
    hv_call(req, NULL, 0, &r);
    json_decref(req);
    json_t *lines = json_array();
    if (hv_ok(r.json) && r.data_len) {
        const char *p = (const char *)r.data, *end = p + r.data_len;
        if (off > 0) /* the first line is cut: start after it */
            while (p < end && *p++ != '\n')
                ;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
            size_t n = (size_t)(e - p);
            if (n && p[n - 1] == '\r')
                n--;
            json_t *v = json_stringn(p, n); /* NULL when the guest wrote no UTF-8 */
            json_array_append_new(lines, v ? v : json_string("(not UTF-8)"));
            p = nl ? nl + 1 : end;
        }
    }
    hv_reply_free(&r);
    return lines;
}

json_t *upload_metadata(const char *uuid, json_t *s)
{
    const char *vm = json_string_value(json_object_get(s, "vm"));
    json_t *hello = hv_simple(json_pack("{s:s}", "op", "hello"));
    json_t *st = vm ? vm_status(vm) : NULL;
    json_t *m = json_pack(
        "{s:i, s:s, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "format", 1, "uuid", uuid,
        "snapshot", json_object_get(s, "id"), "vm", json_object_get(s, "vm"), "trigger",
        json_object_get(s, "trigger"), "time", json_object_get(s, "time"), "sha256",
        json_object_get(s, "sha256"), "core_bytes", json_object_get(s, "core_bytes"), "hv_version",
        json_object_get(hello, "hv") ? json_object_get(hello, "hv") : json_null());
    static const char *const copied[] = {"registers",      "registers_from", "registers_lost",
                                         "registers_vcpu", "fault",          "exception",
                                         "sel_id",         "vcpus"};
    for (size_t i = 0; m && i < sizeof copied / sizeof copied[0]; i++)
        if (json_object_get(s, copied[i]))
            json_object_set(m, copied[i], json_object_get(s, copied[i]));
    if (m) {
        json_t *image = json_object_get(st, "image");
        json_object_set(m, "guest_image", image ? image : json_null());
        json_object_set_new(m, "sel", sel_around(json_integer_value(json_object_get(s, "sel_id"))));
        json_object_set_new(
            m, "console",
            vm ? console_tail(vm, json_integer_value(json_object_get(st, "console_bytes")))
               : json_array());
    }
    json_decref(hello);
    json_decref(st);
    return m;
}
