/* upload.h: crash reports that upload themselves: configuration, the uploader in the agent's
 * poll loop, and what the Dump entries and /metrics show of it (docs/upload.md). */
#ifndef AGENT_UPLOAD_H
#define AGENT_UPLOAD_H

#include <jansson.h>
#include <stdint.h>

struct upload_config {
    int enabled;
    char url[512];       /* https://collector[:port][/path] */
    char connect_to[80]; /* "ADDR:PORT" to connect to instead of the URL's (a guestfwd), or "" */
    char *ca_pem, *cert_pem, *key_pem; /* malloc'd PEM text; the client pair is optional */
    double backoff_base, backoff_cap;  /* seconds */
    int timeout_s;                     /* connect, handshake, and any stall while sending */
    unsigned max_reports;              /* queued reports at most */
    unsigned max_mib;                  /* MiB of (uncompressed) cores queued at most */
};

/* upload_config.c */
extern const char upload_usage[];
/* A command-line option of the uploader's: 1 taken, 0 not the uploader's, -1 a bad value. */
int upload_option(const char *opt, const char *val);
/* The configuration: the NV store's record, else the command line's (then stored). */
void upload_config_load(struct upload_config *c);
int upload_config_save(const struct upload_config *c);
void upload_config_clear(struct upload_config *c);
/* The Redfish view (the key is write-only: never shown). */
json_t *upload_config_json(const struct upload_config *c);
/* Applies a PATCH body: 0, or -1 with the Redfish message id and text in err. */
int upload_config_patch(struct upload_config *c, json_t *patch, const char **msgid, char *err,
                        size_t errlen);

/* upload.c */
/* The poll loop's side: the fd to watch (or -1), its events; lowers *timeout_ms to when the
 * uploader wants to run next. */
int upload_poll(short *events, int64_t *timeout_ms);
/* Runs the uploader: scans for new snapshots, starts or advances an upload. Never blocks on the
 * network; hv requests are answered at once. */
void upload_run(void);
/* The configuration changed (PATCH): applied from the next attempt on. */
struct upload_config *upload_config(void);
void upload_reconfigure(void);
/* Oem.Vigil.Upload of a Dump entry, NULL when the snapshot has no report (new reference). */
json_t *upload_entry_status(const char *snapshot_id);
/* Reports waiting in the outbox and the core bytes they hold (for /metrics). */
unsigned upload_queue_length(uint64_t *bytes);
/* The uploader's own status: queue, last error, whether it is configured. */
json_t *upload_status_json(void);

#endif
