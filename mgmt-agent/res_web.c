/* res_web.c: serves the dashboard's files: "/" (index.html, never cached) and the
 * content-hashed assets (cached for good), the pre-compressed sibling chosen by
 * Accept-Encoding, under a strict Content-Security-Policy. No authentication: the files hold
 * no data; everything the dashboard shows comes from the authenticated Redfish API. */
#include "routes.h"
#include "web.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (4 << 20) /* the bundle is tens of KiB; anything this big is not ours */

/* No inline script or style, nothing from elsewhere: a guest's string that slipped into the
 * DOM as markup still could not run. data: images only for the empty favicon. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const char *root;

void web_set_root(const char *dir)
{
    root = dir;
}

static const char *web_root(void)
{
    if (!root) {
        struct stat st;
        root = stat("build/web/index.html", &st) == 0 ? "build/web" : "/web";
    }
    return root;
}

int web_wants(const struct req *q)
{
    return q->nsegs == 0 || (q->nsegs == 2 && !strcmp(q->segs[0], "assets"));
}

static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".woff2", "font/woff2"},
        {".json", "application/json; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(dot, types[i][0]))
            return types[i][1];
    return "application/octet-stream";
}

/* Whether Accept-Encoding lists coding with a nonzero q ("gzip;q=0" refuses it). */
static int accepts(const char *ae, const char *coding)
{
    size_t n = strlen(coding);
    for (const char *p = ae; p && *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,;");
        if (len == n && !strncasecmp(p, coding, n)) {
            const char *end = p + strcspn(p, ",");
            const char *qv = strstr(p, "q=");
            return !(qv && qv < end && strtod(qv + 2, NULL) <= 0.0);
        }
        p = strchr(p, ',');
    }
    return 0;
}

/* Reads root/rel into a fresh buffer; NULL when it is absent or not a regular file. */
static char *slurp(const char *rel, size_t *len)
{
    char path[512];
    if (snprintf(path, sizeof path, "%s/%s", web_root(), rel) >= (int)sizeof path)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= FILE_MAX &&
        (buf = malloc((size_t)st.st_size + 1))) {
        size_t got = 0;
        ssize_t k;
        while (got < (size_t)st.st_size && (k = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)k;
        if (got != (size_t)st.st_size) {
            free(buf);
            buf = NULL;
        }
        *len = got;
    }
    close(fd);
    return buf;
}

void web_serve(struct req *q, struct resp *r)
{
    if (!(q->method & (M_GET | M_HEAD))) {
        r->allow = M_GET | M_HEAD;
        resp_error(r, 405, "OperationNotAllowed", "%s is not allowed on %.200s",
                   method_name(q->method), q->url);
        return;
    }
    char rel[160];
    if (q->nsegs == 0)
        snprintf(rel, sizeof rel, "index.html");
    else if (id_ok(q->segs[1]))
        snprintf(rel, sizeof rel, "assets/%s", q->segs[1]);
    else
        rel[0] = 0;
    const char *ae = req_header(q, "Accept-Encoding");
    static const char *const codings[][2] = {{"br", ".br"}, {"gzip", ".gz"}};
    const char *used = NULL;
    char *body = NULL;
    size_t len = 0;
    for (size_t i = 0; rel[0] && !body && ae && i < 2; i++) {
        char alt[170];
        snprintf(alt, sizeof alt, "%s%s", rel, codings[i][1]);
        if (accepts(ae, codings[i][0]) && (body = slurp(alt, &len)))
            used = codings[i][0];
    }
    if (rel[0] && !body)
        body = slurp(rel, &len);
    if (!body) {
        resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
        return;
    }
    r->status = 200;
    r->raw = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r->raw, "Content-Type", content_type(rel));
    if (used)
        MHD_add_response_header(r->raw, "Content-Encoding", used);
    MHD_add_response_header(r->raw, "Vary", "Accept-Encoding");
    /* The assets' names change with their content; index.html names the current ones. */
    MHD_add_response_header(r->raw, "Cache-Control",
                            q->nsegs == 0 ? "no-cache" : "public, max-age=31536000, immutable");
    MHD_add_response_header(r->raw, "Content-Security-Policy", csp);
    MHD_add_response_header(r->raw, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r->raw, "X-Frame-Options", "DENY");
    MHD_add_response_header(r->raw, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(r->raw, "Cross-Origin-Resource-Policy", "same-origin");
}
