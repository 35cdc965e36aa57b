/* jsonutil.c: bounded JSON parsing of request bodies and small JSON helpers. */
#include "jsonutil.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* Jansson's own depth limit is 2048; a request body needs far less, and a deep
 * "JSON bomb" is refused here before any allocation. */
static int depth_ok(const char *s, size_t n, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

json_t *json_parse_bounded(const char *s, size_t n, int max_depth, char *err, size_t errlen)
{
    if (!depth_ok(s, n, max_depth)) {
        snprintf(err, errlen, "the request body nests deeper than %d levels", max_depth);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "the request body is not valid JSON: %s at line %d column %d",
                 je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

json_t *odata_link(const char *path)
{
    return json_pack("{s:s}", "@odata.id", path);
}

void json_etag(const char *text, size_t n, char out[24])
{
    unsigned char md[32];
    unsigned int l;
    EVP_Digest(text, n, md, &l, EVP_sha256(), NULL);
    out[0] = '"';
    for (int i = 0; i < 10; i++)
        snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
    out[21] = '"';
    out[22] = 0;
}
