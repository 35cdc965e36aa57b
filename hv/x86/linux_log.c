/* linux_log.c: finds a crashed Linux guest's panic message in its printk buffer via System.map. */
#include "x86/linux_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PANIC_PREFIX "Kernel panic - not syncing: "
/* Debian's kernels use 256 KiB (CONFIG_LOG_BUF_SHIFT=18); log_buf_len= can raise it.  A value
 * beyond this is not a log buffer length but a wrong map or a corrupt guest. */
#define LOG_BUF_MAX (32u << 20)

int linux_syms_parse(const char *text, size_t len, struct linux_syms *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    static const struct {
        const char *name;
        size_t off;
    } want[] = {{"log_buf", offsetof(struct linux_syms, log_buf)},
                {"log_buf_len", offsetof(struct linux_syms, log_buf_len)},
                {"linux_banner", offsetof(struct linux_syms, linux_banner)},
                {"prb", offsetof(struct linux_syms, prb)}};
    size_t pos = 0;
    unsigned lineno = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        lineno++;
        char buf[256], type[4], name[200];
        unsigned long long addr;
        if (n == 0 || n >= sizeof buf)
            continue;
        memcpy(buf, line, n);
        buf[n] = 0;
        if (sscanf(buf, "%llx %3s %199s", &addr, type, name) != 3) {
            snprintf(err, errlen, "line %u is not \"ADDRESS TYPE NAME\": %.60s", lineno, buf);
            return -1;
        }
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            if (!strcmp(name, want[i].name))
                *(uint64_t *)((char *)out + want[i].off) = addr;
    }
    for (size_t i = 0; i < 3; i++) /* prb is optional: without it, padding may trail the text */
        if (!*(uint64_t *)((char *)out + want[i].off)) {
            snprintf(err, errlen,
                     "no symbol %s (Debian's linux-image packages ship a placeholder System.map; "
                     "the real one is in the -dbg package)",
                     want[i].name);
            return -1;
        }
    return 0;
}

static bool read_virt(const struct pagewalk_ctx *c, uint64_t gva, void *dst, size_t len)
{
    size_t copied = 0;
    struct pagewalk_result r;
    return pagewalk_read_virt(c, gva, dst, len, &copied, &r) == PW_OK && copied == len;
}

/* Linux 6.1's printk ring: a record's text is stored after its 8-byte descriptor id, padded to
 * 8 bytes with stale bytes, so its end comes from its descriptor's printk_info.text_len:
 * prb -> desc_ring {u32 count_bits; descs; infos; ...}, infos[id & (count - 1)], 88 bytes each,
 * text_len at +16.  Returns the text's length, or SIZE_MAX if that cannot be read. */
#define PRB_INFOS_OFF     16
#define PRINTK_INFO_SIZE  88
#define INFO_TEXT_LEN_OFF 16
static size_t record_len(const struct pagewalk_ctx *c, const struct linux_syms *s, const char *text,
                         size_t at)
{
    uint64_t ring = 0, infos = 0, id = 0;
    uint32_t bits = 0;
    uint16_t len = 0;
    if (!s->prb || at < 8 || at % 8 || !read_virt(c, s->prb, &ring, 8) ||
        !read_virt(c, ring, &bits, 4) || bits == 0 || bits > 24 ||
        !read_virt(c, ring + PRB_INFOS_OFF, &infos, 8))
        return SIZE_MAX;
    memcpy(&id, text + at - 8, 8);
    uint64_t info = infos + (id & ((1ull << bits) - 1)) * PRINTK_INFO_SIZE;
    if (!read_virt(c, info + INFO_TEXT_LEN_OFF, &len, 2))
        return SIZE_MAX;
    return len;
}

bool linux_panic_reason(const struct pagewalk_ctx *c, const struct linux_syms *s, char *out,
                        size_t outlen)
{
    snprintf(out, outlen, "unknown");
    uint64_t buf = 0;
    uint32_t blen = 0;
    if (!read_virt(c, s->log_buf, &buf, sizeof buf) || !read_virt(c, s->log_buf_len, &blen, 4) ||
        blen == 0 || blen > LOG_BUF_MAX)
        return false;
    char *text = malloc(blen + 1);
    if (!text)
        return false;
    bool found = false;
    if (read_virt(c, buf, text, blen)) {
        text[blen] = 0;
        /* The last panic in the ring: records are text between 8-byte ids, never NUL inside. */
        const char *hit = NULL;
        size_t plen = strlen(PANIC_PREFIX);
        for (size_t i = 0; i + plen <= blen; i++)
            if (text[i] == 'K' && !memcmp(text + i, PANIC_PREFIX, plen))
                hit = text + i + plen;
        if (hit) {
            size_t n = 0, at = (size_t)(hit - text) - plen, len = record_len(c, s, text, at);
            size_t end = len != SIZE_MAX && len >= plen && at + len <= blen ? at + len : blen;
            while (hit + n < text + end && n + 1 < outlen && hit[n] >= 0x20 && hit[n] < 0x7f)
                n++;
            while (n && hit[n - 1] == ' ')
                n--;
            if (n) {
                memcpy(out, hit, n);
                out[n] = 0;
                found = true;
            }
        }
    }
    free(text);
    return found;
}
