/* upload_config.c: the uploader's settings: command-line flags for the first start, then one
 * NV record ("upload.config") that Redfish changes. */
#include "nv.h"
#include "upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "upload.config"

const char upload_usage[] =
    "  --upload-url URL           crash reports go to this collector (https://HOST[:PORT][/PATH])\n"
    "  --upload-connect ADDR:PORT connect there instead of to the URL's host (hv's guestfwd);\n"
    "                             the certificate must still name the URL's host\n"
    "  --upload-ca FILE           the CA (PEM) the collector's certificate must chain to\n"
    "  --upload-cert FILE         a client certificate (PEM) for the collector (mTLS)\n"
    "  --upload-key FILE          its key (PEM)\n"
    "  --upload-backoff BASE,CAP  retry delays in seconds (30,3600)\n"
    "  --upload-timeout S         connect/handshake/stall timeout (30)\n"
    "  --upload-max-reports N     reports queued at most (16); --upload-max-mib M: core MiB "
    "(4096)\n"
    "                             (the flags seed the settings kept in the NV store)\n";

static struct upload_config flags = {
    .backoff_base = 30, .backoff_cap = 3600, .timeout_s = 30, .max_reports = 16, .max_mib = 4096};
static int flags_given;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = f ? calloc(1, 65537) : NULL;
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    if (f)
        fclose(f);
    if (buf && (n == 0 || n == 65536)) {
        free(buf);
        return NULL;
    }
    return buf;
}

int upload_option(const char *opt, const char *val)
{
    char **pem = !strcmp(opt, "--upload-ca")     ? &flags.ca_pem
                 : !strcmp(opt, "--upload-cert") ? &flags.cert_pem
                 : !strcmp(opt, "--upload-key")  ? &flags.key_pem
                                                 : NULL;
    if (strncmp(opt, "--upload-", 9))
        return 0;
    flags_given = 1;
    if (pem) {
        free(*pem);
        return (*pem = slurp(val)) ? 1 : -1;
    }
    if (!strcmp(opt, "--upload-url")) {
        flags.enabled = 1;
        return snprintf(flags.url, sizeof flags.url, "%s", val) < (int)sizeof flags.url ? 1 : -1;
    }
    if (!strcmp(opt, "--upload-connect"))
        return snprintf(flags.connect_to, sizeof flags.connect_to, "%s", val) <
                       (int)sizeof flags.connect_to
                   ? 1
                   : -1;
    if (!strcmp(opt, "--upload-backoff")) {
        double b, c;
        if (sscanf(val, "%lf,%lf", &b, &c) != 2 || b < 0.01 || c < b || c > 86400)
            return -1;
        flags.backoff_base = b, flags.backoff_cap = c;
        return 1;
    }
    int n = atoi(val);
    if (!strcmp(opt, "--upload-timeout") && n >= 1 && n <= 3600)
        return flags.timeout_s = n, 1;
    if (!strcmp(opt, "--upload-max-reports") && n >= 1 && n <= 64)
        return flags.max_reports = (unsigned)n, 1;
    if (!strcmp(opt, "--upload-max-mib") && n >= 1)
        return flags.max_mib = (unsigned)n, 1;
    return -1;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void from_json(struct upload_config *c, json_t *j)
{
    json_t *v;
    c->enabled = json_is_true(json_object_get(j, "Enabled"));
    snprintf(c->url, sizeof c->url, "%s",
             json_string_value(json_object_get(j, "CollectorURL"))
                 ? json_string_value(json_object_get(j, "CollectorURL"))
                 : "");
    snprintf(c->connect_to, sizeof c->connect_to, "%s",
             json_string_value(json_object_get(j, "ConnectTo"))
                 ? json_string_value(json_object_get(j, "ConnectTo"))
                 : "");
    free(c->ca_pem), free(c->cert_pem), free(c->key_pem);
    c->ca_pem = dup_or_null(json_string_value(json_object_get(j, "CollectorCA")));
    c->cert_pem = dup_or_null(json_string_value(json_object_get(j, "ClientCertificate")));
    c->key_pem = dup_or_null(json_string_value(json_object_get(j, "ClientKey")));
    if ((v = json_object_get(j, "BackoffBaseSeconds")) && json_is_number(v))
        c->backoff_base = json_number_value(v);
    if ((v = json_object_get(j, "BackoffCapSeconds")) && json_is_number(v))
        c->backoff_cap = json_number_value(v);
    if ((v = json_object_get(j, "TimeoutSeconds")) && json_is_integer(v))
        c->timeout_s = (int)json_integer_value(v);
    if ((v = json_object_get(j, "MaxReports")) && json_is_integer(v))
        c->max_reports = (unsigned)json_integer_value(v);
    if ((v = json_object_get(j, "MaxMiB")) && json_is_integer(v))
        c->max_mib = (unsigned)json_integer_value(v);
}

static json_t *to_json(const struct upload_config *c, int with_key)
{
    json_t *j =
        json_pack("{s:b, s:s, s:s, s:s?, s:s?, s:f, s:f, s:i, s:i, s:i}", "Enabled", c->enabled,
                  "CollectorURL", c->url, "ConnectTo", c->connect_to, "CollectorCA", c->ca_pem,
                  "ClientCertificate", c->cert_pem, "BackoffBaseSeconds", c->backoff_base,
                  "BackoffCapSeconds", c->backoff_cap, "TimeoutSeconds", c->timeout_s, "MaxReports",
                  (int)c->max_reports, "MaxMiB", (int)c->max_mib);
    if (with_key && c->key_pem)
        json_object_set_new(j, "ClientKey", json_string(c->key_pem));
    return j;
}

void upload_config_load(struct upload_config *c)
{
    uint8_t *d;
    size_t n;
    *c = flags;
    c->ca_pem = dup_or_null(flags.ca_pem);
    c->cert_pem = dup_or_null(flags.cert_pem);
    c->key_pem = dup_or_null(flags.key_pem);
    if (nv_get(KEY, &d, &n) == 0) {
        json_t *j = json_loadb((const char *)d, n, 0, NULL);
        free(d);
        if (json_is_object(j)) {
            from_json(c, j);
            json_decref(j);
            return;
        }
        json_decref(j);
        fprintf(stderr, "mgmt-agent: %s is damaged: using the command line's settings\n", KEY);
    }
    if (flags_given)
        upload_config_save(c);
}

int upload_config_save(const struct upload_config *c)
{
    return nv_put_json(KEY, to_json(c, 1));
}

void upload_config_clear(struct upload_config *c)
{
    free(c->ca_pem), free(c->cert_pem), free(c->key_pem);
    c->ca_pem = c->cert_pem = c->key_pem = NULL;
}

json_t *upload_config_json(const struct upload_config *c)
{
    json_t *j = to_json(c, 0);
    json_object_set_new(j, "ClientKey", json_null()); /* write-only */
    json_object_set_new(j, "ClientKeySet", json_boolean(c->key_pem != NULL));
    return j;
}

static int fail(const char **msgid, const char *id, char *err, size_t errlen, const char *what)
{
    *msgid = id;
    snprintf(err, errlen, "%s", what);
    return -1;
}

int upload_config_patch(struct upload_config *c, json_t *patch, const char **msgid, char *err,
                        size_t errlen)
{
    static const char *const known[] = {
        "Enabled",    "CollectorURL",   "CollectorCA",        "ClientCertificate",
        "ClientKey",  "TimeoutSeconds", "BackoffBaseSeconds", "BackoffCapSeconds",
        "MaxReports", "MaxMiB",         "ConnectTo"};
    const char *k;
    json_t *v;
    if (!json_is_object(patch))
        return fail(msgid, "MalformedJSON", err, errlen, "the body must be a JSON object");
    json_object_foreach(patch, k, v)
    {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(k, known[i]))
            i++;
        if (i == sizeof known / sizeof known[0]) {
            *msgid = "PropertyUnknown";
            snprintf(err, errlen, "%.60s is not a property of CrashUpload", k);
            return -1;
        }
        int is_str = !strcmp(k, "CollectorURL") || !strcmp(k, "ConnectTo") ||
                     !strcmp(k, "CollectorCA") || !strcmp(k, "ClientCertificate") ||
                     !strcmp(k, "ClientKey");
        if ((!strcmp(k, "Enabled") && !json_is_boolean(v)) ||
            (is_str && !json_is_string(v) && !json_is_null(v)) ||
            (!is_str && strcmp(k, "Enabled") && !json_is_number(v))) {
            *msgid = "PropertyValueTypeError";
            snprintf(err, errlen, "%.60s has the wrong type", k);
            return -1;
        }
    }
    json_t *j = to_json(c, 1);
    json_object_update(j, patch);
    const char *url = json_string_value(json_object_get(j, "CollectorURL"));
    double base = json_number_value(json_object_get(j, "BackoffBaseSeconds"));
    double cap = json_number_value(json_object_get(j, "BackoffCapSeconds"));
    json_int_t t = json_integer_value(json_object_get(j, "TimeoutSeconds"));
    json_int_t mr = json_integer_value(json_object_get(j, "MaxReports"));
    json_int_t mm = json_integer_value(json_object_get(j, "MaxMiB"));
    const char *to = json_string_value(json_object_get(j, "ConnectTo"));
    const char *bad = to && strlen(to) >= sizeof c->connect_to     ? "ConnectTo is too long"
                      : url && *url && strncmp(url, "https://", 8) ? "CollectorURL must be https://"
                      : url && strlen(url) >= sizeof c->url        ? "CollectorURL is too long"
                      : base < 0.01 || cap < base || cap > 86400
                          ? "backoff: 0.01 <= base <= cap <= 86400"
                      : t < 1 || t > 3600 ? "TimeoutSeconds: 1 to 3600"
                      : mr < 1 || mr > 64 ? "MaxReports: 1 to 64"
                      : mm < 1            ? "MaxMiB: at least 1"
                                          : NULL;
    if (bad) {
        json_decref(j);
        return fail(msgid, "PropertyValueFormatError", err, errlen, bad);
    }
    from_json(c, j);
    json_decref(j);
    return 0;
}
