/* subs.h: Redfish EventService push subscriptions (EventDestination): the bounded list kept in
 * hv's NV store, its checks, and the delivery of Events to each as HTTPS POSTs (docs/agent.md). */
#ifndef AGENT_SUBS_H
#define AGENT_SUBS_H

#include "upload_body.h"
#include "upload_conn.h"

#include <jansson.h>
#include <stdint.h>

#define SUBS_MAX         16  /* subscriptions at most (each may hold a connection) */
#define SUBS_DEST_MAX    511 /* Destination's length */
#define SUBS_CONTEXT_MAX 256 /* Context's length */
#define SUBS_PREFIXES    4   /* RegistryPrefixes entries */
#define SUBS_QUEUE       32  /* events waiting per subscription (docs/agent.md: which go) */
#define SUBS_NV          "events.subscriptions"
#define SUBS_PATH        "/redfish/v1/EventService/Subscriptions"

struct sub {
    int used;
    unsigned id;
    char dest[SUBS_DEST_MAX + 1];
    char context[SUBS_CONTEXT_MAX + 1];
    int nprefixes;
    char prefixes[SUBS_PREFIXES][16];
    int suspended; /* Status.State "Disabled": retries were exhausted (or an operator said so) */
    /* delivery (subs_push.c), not stored */
    char *queue[SUBS_QUEUE]; /* Event JSON texts with this subscription's Context */
    unsigned qhead, qlen;
    unsigned attempts; /* failed attempts at the queue's head */
    uint64_t delivered, dropped;
    int64_t next_ms; /* monotonic: the head's next attempt */
    struct up_conn *conn;
    struct up_body *body;
    char last_error[200];
};

struct subs_settings {
    unsigned retry_attempts;   /* DeliveryRetryAttempts: retries after the first attempt */
    unsigned retry_interval_s; /* DeliveryRetryIntervalSeconds */
};

/* A refused request: the HTTP status, the Base registry message, its text and the property. */
struct subs_err {
    int status;
    const char *msgid;
    char text[200];
    char pointer[64];
};

extern struct sub subs[SUBS_MAX];
extern struct subs_settings subs_cfg;

/* subs.c: the list and its record. */
/* Reads the record (at start); -1 when hv could not be asked (writes then answer 503). */
int subs_load(void);
int subs_loaded(void);
int subs_save(void);
struct sub *subs_find(const char *id);
json_t *subs_json(const struct sub *s);
/* POST's body: 0 and *out, or -1 with e. */
int subs_create(json_t *body, struct sub **out, struct subs_err *e);
/* PATCH's body (Context, Status.State): 0, or -1 with e. *resumed says it left "Disabled". */
int subs_patch(struct sub *s, json_t *body, int *resumed, struct subs_err *e);
/* The EventService's own PATCH (DeliveryRetryAttempts, DeliveryRetryIntervalSeconds). */
int subs_settings_patch(json_t *body, struct subs_err *e);
/* Whether an event with this MessageId is one s asked for (RegistryPrefixes). */
int subs_wants(const struct sub *s, const char *message_id);

/* subs_push.c: delivery. */
void subs_push_init(void); /* follows the event ring (events_subscribe) and joins the loop */
void subs_push_forget(struct sub *s); /* drops s's queue and connection (delete, suspend) */
void subs_push_resume(struct sub *s); /* "Disabled" to "Enabled": deliver again from now */

#endif
