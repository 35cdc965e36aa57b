/* res_peek.c: a stopped VM's memory (Vigil.ReadMemory) and registers, read through hv's peek
 * and regs. Administrator only (routes.c): guest memory holds the guest's secrets. A running VM
 * is refused by name of its state: its memory would change under the read. */
#include "hvlink.h"
#include "oem.h"
#include "resources.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_MAX (1u << 20) /* hv's peek bound */

/* The VM's state from hv's status, "" after an error (r holds it: 404 or hv's). */
static const char *vm_state(struct resp *r, const char *vm, char *buf, size_t n)
{
    json_t *st = hv_get(r, json_pack("{s:s}", "op", "status")), *v;
    size_t i;
    buf[0] = 0;
    json_array_foreach(json_object_get(st, "vms"), i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "name")), vm))
            snprintf(buf, n, "%s", json_string_value(json_object_get(v, "state")));
    }
    if (st && !buf[0])
        resp_error(r, 404, "ResourceNotFound", "no system %s", vm);
    json_decref(st);
    return buf;
}

static int stopped(struct resp *r, const char *vm)
{
    char st[32];
    if (!vm_state(r, vm, st, sizeof st)[0])
        return 0;
    if (strcmp(st, "running"))
        return 1;
    resp_error(r, 409, "ResourceInUse",
               "%s is running: its memory and registers are read only while it is stopped "
               "(pause it, or switch away from it to freeze it)",
               vm);
    return 0;
}

static void bad_param(struct resp *r, const char *name, const char *id, const char *why)
{
    char ptr[64];
    resp_error(r, 400, id, "%s: %s", name, why);
    snprintf(ptr, sizeof ptr, "#/%s", name);
    resp_related(r, ptr);
}

/* A JSON integer, or a string of one ("0x" hex or decimal); -1 when it is neither. */
static int get_u64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return errno || *end ? -1 : 0;
}

/* Reads the action's parameters into a peek request; NULL after a 400 naming the parameter. */
static json_t *peek_request(struct req *q, struct resp *r)
{
    static const char *const known[] = {"Address", "Length", "Virtual", "Vcpu"};
    const char *key;
    json_t *v;
    if (!json_is_object(q->json)) {
        resp_error(r, 400, "ActionParameterMissing",
                   "Vigil.ReadMemory needs a JSON body with "
                   "Address and Length");
        return NULL;
    }
    json_object_foreach(q->json, key, v)
    {
        size_t i = 0;
        while (i < 4 && strcmp(key, known[i]))
            i++;
        if (i == 4) {
            char name[72];
            snprintf(name, sizeof name, "%.64s", key);
            bad_param(r, name, "ActionParameterUnknown",
                      "not a parameter of Vigil.ReadMemory (Address, Length, Virtual, Vcpu)");
            return NULL;
        }
    }
    uint64_t addr, len, cpu = 0;
    json_t *a = json_object_get(q->json, "Address"), *l = json_object_get(q->json, "Length");
    json_t *virt = json_object_get(q->json, "Virtual"), *c = json_object_get(q->json, "Vcpu");
    if (!a || !l) {
        bad_param(r, a ? "Length" : "Address", "ActionParameterMissing", "required");
        return NULL;
    }
    if (get_u64(a, &addr) || addr > INT64_MAX) {
        bad_param(r, "Address", "ActionParameterValueFormatError",
                  "expected a non-negative integer, or a string of one (\"0x\" hex or decimal)");
        return NULL;
    }
    if (get_u64(l, &len) || len == 0 || len > READ_MAX) {
        bad_param(r, "Length", "ActionParameterValueError", "expected 1 .. 1048576 bytes");
        return NULL;
    }
    if (virt && !json_is_boolean(virt)) {
        bad_param(r, "Virtual", "ActionParameterValueTypeError", "expected true or false");
        return NULL;
    }
    if (c && (get_u64(c, &cpu) || cpu > 255)) {
        bad_param(r, "Vcpu", "ActionParameterValueError", "expected a vCPU index");
        return NULL;
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:b, s:I}", "op", "peek", "vm", ARG(q, 1), "addr",
                     (json_int_t)addr, "len", (json_int_t)len, "virtual", json_is_true(virt),
                     "vcpu", (json_int_t)cpu);
}

/* Wants raw bytes: Accept names application/octet-stream (JSON with base64 otherwise). */
static int wants_octets(struct req *q)
{
    const char *acc = req_header(q, "Accept");
    return acc && strstr(acc, "application/octet-stream");
}

static json_t *hex(uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "0x%" PRIx64, v);
    return json_string(b);
}

void h_read_memory(struct req *q, struct resp *r)
{
    json_t *req = peek_request(q, r);
    if (!req || !stopped(r, ARG(q, 1))) {
        json_decref(req);
        return;
    }
    struct hv_reply rep = {0};
    hv_call(req, NULL, 0, &rep);
    int virt = json_is_true(json_object_get(req, "virtual"));
    json_decref(req);
    const char *code = hv_code(rep.json),
               *err = json_string_value(json_object_get(rep.json, "error"));
    if (!hv_ok(rep.json) && (!strcmp(code, "EFAULT") || !strcmp(code, "EINVAL")) && err) {
        int vcpu = strstr(err, "\"vcpu\"") != NULL;
        bad_param(r, vcpu ? "Vcpu" : "Address", "ActionParameterValueError", err);
    } else if (!hv_ok(rep.json)) {
        hv_error(r, rep.json);
    } else if (wants_octets(q)) {
        r->status = 200;
        r->raw = MHD_create_response_from_buffer(rep.data_len, rep.data, MHD_RESPMEM_MUST_FREE);
        rep.data = NULL; /* MHD frees it */
        MHD_add_response_header(r->raw, "Content-Type", "application/octet-stream");
    } else {
        char *b64 = malloc(4 * ((rep.data_len + 2) / 3) + 1);
        if (!b64) {
            hv_reply_free(&rep);
            return resp_error(r, 500, "GeneralError", "out of memory");
        }
        EVP_EncodeBlock((unsigned char *)b64, rep.data, (int)rep.data_len);
        json_int_t at = json_integer_value(json_object_get(rep.json, virt ? "gva" : "gpa"));
        json_t *o = json_pack("{s:o, s:b, s:I, s:s}", "Address", hex((uint64_t)at), "Virtual", virt,
                              "Length", (json_int_t)rep.data_len, "Data", b64);
        if (virt) {
            json_object_set_new(
                o, "PhysicalAddress",
                hex((uint64_t)json_integer_value(json_object_get(rep.json, "gpa"))));
            json_object_set(o, "Walk", json_object_get(rep.json, "walk"));
        }
        free(b64);
        resp_json(r, 200, o);
    }
    hv_reply_free(&rep);
}

/* hv's registers are 64-bit values sent as JSON integers (negative above 2^63): hex strings
 * here, as debuggers show them. */
static json_t *vcpu_json(json_t *v, size_t index)
{
    json_t *o = json_pack("{s:I}", "Index", (json_int_t)index), *x;
    const char *k;
    json_object_foreach(v, k, x)
    {
        if (!strcmp(k, "registers_from"))
            json_object_set(o, "RegistersFrom", x);
        else if (!strcmp(k, "registers_lost"))
            json_object_set(o, "RegistersLost", x);
        else if (json_is_integer(x) && strcmp(k, "cs") && strcmp(k, "cpl"))
            json_object_set_new(o, k, hex((uint64_t)json_integer_value(x)));
        else
            json_object_set(o, k, x);
    }
    return o;
}

void h_registers(struct req *q, struct resp *r)
{
    if (!stopped(r, ARG(q, 1)))
        return;
    json_t *rep = hv_get(r, json_pack("{s:s, s:s}", "op", "regs", "vm", ARG(q, 1)));
    if (!rep)
        return;
    char path[160];
    snprintf(path, sizeof path, "/redfish/v1/Systems/%s/Oem/Vigil/Registers", ARG(q, 1));
    json_t *cpus = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(rep, "vcpus"), i, v)
    {
        json_array_append_new(cpus, vcpu_json(v, i));
    }
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:O, s:o}", "@odata.id", path, "@odata.type",
                        "#VigilRegisters.v1_0_0.VigilRegisters", "Id", "Registers", "Name",
                        "Registers of a stopped VM", "State", json_object_get(rep, "state"),
                        "Vcpus", cpus));
    json_decref(rep);
}
