/* policy_prompt.c: the pre-boot policy prompt on the local console, and the table as text. */
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 256

struct reader {
    int fd;
    bool eof;
    size_t len;
    char buf[LINE_MAX_LEN * 2];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads whatever arrives before deadline_ms.  1: read something or hit EOF, 0: timed out. */
static int fill(struct reader *r, int64_t deadline_ms)
{
    for (;;) {
        if (r->eof || r->len == sizeof r->buf)
            return 1;
        int64_t left = deadline_ms - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        ssize_t got = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (got == 0)
            r->eof = true;
        r->len += (size_t)got;
        return 1;
    }
}

static void consume(struct reader *r, size_t n)
{
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

/*
 * One line, without its end (LF, CR LF or CR), into line.  1: a line (the last one may end
 * at EOF), 0: timeout or EOF with nothing.  An overlong line is read to its end, truncated,
 * and flagged.
 */
static int read_line(struct reader *r, char *line, size_t size, int64_t deadline_ms, bool *too_long)
{
    size_t at = 0;
    *too_long = false;
    for (;;) {
        size_t i = 0;
        while (i < r->len && r->buf[i] != '\n' && r->buf[i] != '\r')
            i++;
        size_t keep = i < size - 1 - at ? i : size - 1 - at;
        *too_long |= keep < i;
        memcpy(line + at, r->buf, keep);
        at += keep;
        line[at] = 0;
        if (i < r->len) {
            size_t end = i + 1;
            if (r->buf[i] == '\r' && end < r->len && r->buf[end] == '\n')
                end++;
            consume(r, end);
            return 1;
        }
        consume(r, i);
        if (r->eof)
            return at > 0 || *too_long;
        int rc = fill(r, deadline_ms);
        if (rc <= 0)
            return rc;
    }
}

static void trim(char *s)
{
    size_t n = strlen(s), a = 0;
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    while (isspace((unsigned char)s[a]))
        a++;
    memmove(s, s + a, n - a + 1);
}

void policy_print(struct policy *p, int out_fd)
{
    struct policy_params pp;
    policy_get_params(p, &pp);
    dprintf(out_fd, "trap policy (event -> action):\n");
    for (int i = 0; i < POLICY_EV_COUNT; i++)
        dprintf(out_fd, "  %-20s %s\n", policy_event_name((enum policy_event)i),
                policy_action_name(policy_action_for(p, (enum policy_event)i)));
    if (pp.watchdog_ms)
        dprintf(out_fd, "  %-20s %" PRIu32 " ms\n", "watchdog_ms", pp.watchdog_ms);
    else
        dprintf(out_fd, "  %-20s off\n", "watchdog_ms");
    dprintf(out_fd, "  %-20s", "protected");
    for (uint32_t i = 0; i < pp.nprotected; i++)
        dprintf(out_fd, " 0x%" PRIx64 "+0x%" PRIx64, pp.protected_ranges[i].gpa,
                pp.protected_ranges[i].len);
    dprintf(out_fd, "%s\n  %-20s", pp.nprotected ? "" : " none", "forbidden_ports");
    for (uint32_t i = 0; i < pp.nports; i++)
        dprintf(out_fd, " 0x%x-0x%x", pp.ports[i].first, pp.ports[i].last);
    dprintf(out_fd, "%s\n  %-20s", pp.nports ? "" : " none", "forbidden_msrs");
    for (uint32_t i = 0; i < pp.nmsrs; i++)
        dprintf(out_fd, " 0x%" PRIx32, pp.msrs[i]);
    dprintf(out_fd, "%s\n", pp.nmsrs ? "" : " none");
}

static void print_help(int out_fd)
{
    dprintf(out_fd, "  one change per line: EVENT=ACTION, watchdog_ms=N (0 = off) or "
                    "preboot_prompt_seconds=N\n"
                    "  actions: log freeze notify reset nmi resume; \"show\" prints the table; "
                    "an empty line boots\n");
}

/* The edit loop; returns the number of lines applied or -errno. */
static int edit(struct policy *p, struct reader *r, int out_fd)
{
    char line[LINE_MAX_LEN], err[512];
    int applied = 0;
    bool too_long;

    print_help(out_fd);
    for (;;) {
        dprintf(out_fd, "policy> ");
        int rc =
            read_line(r, line, sizeof line, mono_ms() + POLICY_PROMPT_EDIT_IDLE * 1000, &too_long);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            dprintf(out_fd, "\n(no more input: edit ends)\n");
            break;
        }
        trim(line);
        if (too_long) {
            dprintf(out_fd, "  error: line longer than %d characters; try again\n",
                    LINE_MAX_LEN - 1);
        } else if (!line[0]) {
            break;
        } else if (!strcmp(line, "help") || !strcmp(line, "?")) {
            print_help(out_fd);
        } else if (!strcmp(line, "show")) {
            policy_print(p, out_fd);
        } else if (policy_assign(p, line, err, sizeof err)) {
            dprintf(out_fd, "  error: %s; try again\n", err);
        } else {
            dprintf(out_fd, "  ok: %s\n", line);
            applied++;
        }
    }
    dprintf(out_fd, "policy edit done: %d change%s\n", applied, applied == 1 ? "" : "s");
    return applied;
}

int policy_preboot_prompt(struct policy *p, int in_fd, int out_fd, int timeout_seconds)
{
    struct reader r = {.fd = in_fd};

    if (timeout_seconds <= 0)
        return 0;
    policy_print(p, out_fd);
    dprintf(out_fd, "press e within %d s to edit the policy, Enter to boot now\n", timeout_seconds);
    int rc = fill(&r, mono_ms() + (int64_t)timeout_seconds * 1000);
    if (rc < 0)
        return rc;
    if (rc == 0 || r.len == 0) {
        dprintf(out_fd, "no edit: booting\n");
        return 0;
    }
    if (r.buf[0] != 'e' && r.buf[0] != 'E') {
        dprintf(out_fd, "booting\n");
        return 0;
    }
    /* "e" and Enter (LF, CR or CR LF) from a terminal may arrive together: drop that line's
     * rest with its end, when it is already here. */
    size_t end = 0;
    while (end < r.len && r.buf[end] != '\n' && r.buf[end] != '\r')
        end++;
    if (end == r.len)
        end = 1;
    else if (r.buf[end++] == '\r' && end < r.len && r.buf[end] == '\n')
        end++;
    consume(&r, end);
    return edit(p, &r, out_fd);
}
