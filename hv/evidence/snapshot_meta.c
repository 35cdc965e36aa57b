/* snapshot_meta.c: a snapshot's metadata: its JSON, from the request and core; atomic writes. */
#include "base/log.h"
#include "evidence/snapshot_store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Metadata layout version, for readers of the JSON files. */
#define SNAP_FORMAT 1

static void iso_time(int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns % 1000000000 / 1000000));
}

/* Registers as hex strings: JSON numbers lose bits above 2^53 in most readers. */
static int set_hex(json_t *o, const char *key, uint64_t v)
{
    char b[24];

    snprintf(b, sizeof(b), "0x%llx", (unsigned long long)v);
    return json_object_set_new(o, key, json_string(b));
}

/* vCPU 0 at the freeze: enough to triage without opening the core. */
static json_t *regs_json(const struct core_vcpu *c)
{
    const struct kvm_regs *r = &c->regs;
    const struct kvm_sregs *sr = &c->sregs;
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"rip", r->rip},
        {"rsp", r->rsp},
        {"rbp", r->rbp},
        {"rflags", r->rflags},
        {"rax", r->rax},
        {"rbx", r->rbx},
        {"rcx", r->rcx},
        {"rdx", r->rdx},
        {"rsi", r->rsi},
        {"rdi", r->rdi},
        {"r8", r->r8},
        {"r9", r->r9},
        {"r10", r->r10},
        {"r11", r->r11},
        {"r12", r->r12},
        {"r13", r->r13},
        {"r14", r->r14},
        {"r15", r->r15},
        {"cs", sr->cs.selector},
        {"ss", sr->ss.selector},
        {"cr0", sr->cr0},
        {"cr2", sr->cr2},
        {"cr3", sr->cr3},
        {"cr4", sr->cr4},
        {"efer", sr->efer},
        {"fs_base", sr->fs.base},
        {"gs_base", sr->gs.base},
    };
    json_t *o = json_object();
    int rc = o ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < sizeof(f) / sizeof(f[0]); i++)
        rc = set_hex(o, f[i].name, f[i].v);
    if (rc == 0)
        rc = json_object_set_new(o, "cpl", json_integer(sr->cs.dpl));
    if (rc < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *snap_build_meta(const struct snapshot_request *req, const struct snap_written *w)
{
    char when[40], core[SNAPSHOT_ID_MAX + 8];
    json_t *m, *regs = NULL, *exc = NULL;

    iso_time(w->time_ns, when, sizeof(when));
    snprintf(core, sizeof(core), "%s%s", w->id, SNAP_CORE_SUFFIX);
    size_t cpu = req->summary_vcpu < req->nvcpus ? req->summary_vcpu : 0;
    if (req->nvcpus > 0 && (regs = regs_json(&req->vcpus[cpu])) == NULL)
        return NULL;
    /* A copy: the caller's object may change after we return, on another thread. */
    if (req->exception && (exc = json_deep_copy(req->exception)) == NULL) {
        json_decref(regs);
        return NULL;
    }
    /* The digest comes later (snapshot_digest.c), with timing.hash_s and total_s. */
    m = json_pack(
        "{s:i, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:o?, s:o?, s:o?, s:s, s:I, s:I, s:s,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}, s:{s:f, s:f}}",
        "format", SNAP_FORMAT, "id", w->id, "seq", (json_int_t)w->seq, "vm", req->vm, "trigger",
        req->trigger, "time", when, "time_ns", (json_int_t)w->time_ns, "sel_id",
        (json_int_t)req->sel_id, "vcpus", (json_int_t)req->nvcpus, "rip",
        regs ? json_incref(json_object_get(regs, "rip")) : NULL, "registers", regs, "exception",
        exc, "core", core, "core_bytes", (json_int_t)w->bytes, "core_allocated_bytes",
        (json_int_t)w->allocated, "sha256", SNAPSHOT_SHA256_PENDING, "coredump", "file_bytes",
        (json_int_t)w->st.file_bytes, "data_bytes", (json_int_t)w->st.data_bytes, "direct_bytes",
        (json_int_t)w->st.direct_bytes, "zero_pages_skipped", (json_int_t)w->st.zero_pages_skipped,
        "pages_total", (json_int_t)w->st.pages_total, "flushes_behind",
        (json_int_t)w->st.flushes_behind, "write_seconds", w->st.write_seconds, "seconds",
        w->st.seconds, "timing", "dump_s", w->dump_s, "fsync_s", w->fsync_s);
    if (m && req->evidence) {
        json_t *ev = json_deep_copy(req->evidence);
        if (!ev || json_object_update(m, ev) < 0) {
            json_decref(m);
            m = NULL;
        }
        json_decref(ev);
    }
    return m;
}

int snap_write_meta(struct snapshot_store *s, const char *id, const json_t *m, char *err,
                    size_t errlen)
{
    char tmp[SNAPSHOT_ID_MAX + 16], name[SNAPSHOT_ID_MAX + 16];
    char *txt = json_dumps(m, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    size_t len, off = 0;
    int fd = -1, rc = 0;

    snprintf(tmp, sizeof(tmp), "%s%s%s", id, SNAP_META_SUFFIX, SNAP_TMP_SUFFIX);
    snprintf(name, sizeof(name), "%s%s", id, SNAP_META_SUFFIX);
    if (txt == NULL)
        return hv_seterr(err, errlen, "snapshot %s: metadata: out of memory", id), -ENOMEM;
    len = strlen(txt);
    txt[len++] = '\n'; /* json_dumps' NUL becomes the final newline */
    /* O_TRUNC, not O_EXCL: a digest update may follow a crash that left this name behind. */
    if ((fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
        rc = -errno;
    while (rc == 0 && off < len) {
        ssize_t n = write(fd, txt + off, len - off);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && renameat(s->dirfd, tmp, s->dirfd, name) < 0)
        rc = -errno;
    if (rc < 0) {
        hv_seterr(err, errlen, "%s/%s: %s", s->root, tmp, strerror(-rc));
        unlinkat(s->dirfd, tmp, 0);
    }
    free(txt);
    return rc;
}
