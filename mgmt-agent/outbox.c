/* outbox.c: the crash-report outbox as one JSON record in hv's NV store ("upload.outbox"). */
#include "outbox.h"
#include "nv.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "upload.outbox"

static const char *const names[] = {"Queued", "Acknowledged", "Rejected", "Dropped"};

const char *ob_state_name(enum ob_state s)
{
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "Unknown";
}

static int state_parse(const char *s)
{
    for (unsigned i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    return -1;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static struct ob_entry *grow(struct outbox *ob)
{
    if (ob->n == ob->cap) {
        size_t cap = ob->cap ? 2 * ob->cap : 16;
        struct ob_entry *e = realloc(ob->e, cap * sizeof *e);
        if (!e)
            return NULL;
        ob->e = e, ob->cap = cap;
    }
    struct ob_entry *e = &ob->e[ob->n++];
    memset(e, 0, sizeof *e);
    return e;
}

int outbox_load(struct outbox *ob, char *err, size_t errlen)
{
    memset(ob, 0, sizeof *ob);
    uint8_t *d;
    size_t n;
    int rc = nv_get(KEY, &d, &n);
    if (rc == 1)
        return 0;
    if (rc < 0)
        return snprintf(err, errlen, "cannot read %s from hv's NV store", KEY), -1;
    json_error_t je;
    json_t *j = json_loadb((const char *)d, n, 0, &je), *x;
    free(d);
    if (!json_is_object(j)) {
        json_decref(j);
        return snprintf(err, errlen, "%s is not a JSON object: %s", KEY, je.text), -1;
    }
    copy(ob->hwm, sizeof ob->hwm, json_string_value(json_object_get(j, "hwm")));
    size_t i;
    json_array_foreach(json_object_get(j, "entries"), i, x)
    {
        const char *snap = json_string_value(json_object_get(x, "snapshot"));
        const char *uuid = json_string_value(json_object_get(x, "uuid"));
        int st = state_parse(json_string_value(json_object_get(x, "state")));
        if (!snap || strlen(snap) >= 64 || !uuid || strlen(uuid) != 36 || st < 0) {
            fprintf(stderr, "mgmt-agent: outbox: entry %zu is damaged, skipped\n", i);
            continue;
        }
        struct ob_entry *e = grow(ob);
        if (!e)
            break;
        copy(e->snap, sizeof e->snap, snap);
        copy(e->uuid, sizeof e->uuid, uuid);
        e->state = (enum ob_state)st;
        e->attempts = (unsigned)json_integer_value(json_object_get(x, "attempts"));
        e->queued_ms = json_integer_value(json_object_get(x, "queued_ms"));
        e->next_ms = json_integer_value(json_object_get(x, "next_ms"));
        e->core_bytes = (uint64_t)json_integer_value(json_object_get(x, "core_bytes"));
        copy(e->error, sizeof e->error, json_string_value(json_object_get(x, "error")));
        copy(e->receipt, sizeof e->receipt, json_string_value(json_object_get(x, "receipt")));
    }
    json_decref(j);
    return 0;
}

int outbox_save(const struct outbox *ob)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ob->n; i++) {
        const struct ob_entry *e = &ob->e[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:s, s:s}", "snapshot", e->snap,
                         "uuid", e->uuid, "state", ob_state_name(e->state), "attempts",
                         (int)e->attempts, "queued_ms", (json_int_t)e->queued_ms, "next_ms",
                         (json_int_t)e->next_ms, "core_bytes", (json_int_t)e->core_bytes, "error",
                         e->error, "receipt", e->receipt));
    }
    return nv_put_json(KEY,
                       json_pack("{s:i, s:s, s:o}", "format", 1, "hwm", ob->hwm, "entries", a));
}

void outbox_free(struct outbox *ob)
{
    free(ob->e);
    memset(ob, 0, sizeof *ob);
}

struct ob_entry *outbox_find(struct outbox *ob, const char *snap)
{
    for (size_t i = 0; i < ob->n; i++)
        if (!strcmp(ob->e[i].snap, snap))
            return &ob->e[i];
    return NULL;
}

struct ob_entry *outbox_add(struct outbox *ob, const char *snap, uint64_t core_bytes,
                            int64_t now_ms)
{
    struct ob_entry *e = strlen(snap) < sizeof e->snap ? grow(ob) : NULL;
    if (!e)
        return NULL;
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40, b[8] = (b[8] & 0x3f) | 0x80; /* a version 4 UUID */
    snprintf(e->uuid, sizeof e->uuid,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    copy(e->snap, sizeof e->snap, snap);
    e->state = OB_QUEUED;
    e->queued_ms = e->next_ms = now_ms;
    e->core_bytes = core_bytes;
    if (strcmp(snap, ob->hwm) > 0)
        copy(ob->hwm, sizeof ob->hwm, snap);
    return e;
}

void outbox_trim(struct outbox *ob)
{
    size_t done = 0;
    for (size_t i = 0; i < ob->n; i++)
        done += ob->e[i].state != OB_QUEUED;
    for (size_t i = 0; i < ob->n && done > OUTBOX_HISTORY;) {
        if (ob->e[i].state != OB_QUEUED) {
            memmove(&ob->e[i], &ob->e[i + 1], (ob->n - i - 1) * sizeof ob->e[0]);
            ob->n--, done--;
        } else {
            i++;
        }
    }
}

size_t outbox_queued(const struct outbox *ob, uint64_t *bytes)
{
    size_t n = 0;
    uint64_t b = 0;
    for (size_t i = 0; i < ob->n; i++)
        if (ob->e[i].state == OB_QUEUED)
            n++, b += ob->e[i].core_bytes;
    if (bytes)
        *bytes = b;
    return n;
}

json_t *ob_entry_json(const struct ob_entry *e)
{
    json_t *j = json_pack("{s:s, s:s, s:i}", "State", ob_state_name(e->state), "ReportId", e->uuid,
                          "Attempts", (int)e->attempts);
    json_object_set_new(j, "LastError", e->error[0] ? json_string(e->error) : json_null());
    json_object_set_new(j, "Receipt", e->receipt[0] ? json_string(e->receipt) : json_null());
    return j;
}
