/* resources.h: the Redfish resource handlers, one file per resource group. */
#ifndef AGENT_RESOURCES_H
#define AGENT_RESOURCES_H

#include "http.h"
#include "jsonutil.h"

/* Segment i of the route's own path (after /redfish/v1). */
#define ARG(q, i) seg(q, (i) + 2)

/* res_root.c */
void h_versions(struct req *q, struct resp *r);
void h_root(struct req *q, struct resp *r);
void h_odata(struct req *q, struct resp *r);
void h_metadata(struct req *q, struct resp *r);
/* res_sessions.c */
void h_session_service(struct req *q, struct resp *r);
void h_sessions(struct req *q, struct resp *r);
void h_session(struct req *q, struct resp *r);
/* res_accounts.c */
void h_account_service(struct req *q, struct resp *r);
void h_accounts(struct req *q, struct resp *r);
void h_account(struct req *q, struct resp *r);
void h_roles(struct req *q, struct resp *r);
void h_role(struct req *q, struct resp *r);
/* res_systems.c */
void h_systems(struct req *q, struct resp *r);
void h_system(struct req *q, struct resp *r);
void h_system_reset(struct req *q, struct resp *r);
void h_system_switch(struct req *q, struct resp *r);
void h_system_snapshot(struct req *q, struct resp *r);
/* Makes a deferred service VM restart once it is due; ms until it is due, or -1 for none. */
int systems_deferred_poll(void);
/* res_chassis.c */
void h_chassis_coll(struct req *q, struct resp *r);
void h_chassis(struct req *q, struct resp *r);
void h_sensors(struct req *q, struct resp *r);
void h_sensor(struct req *q, struct resp *r);
void h_thermal(struct req *q, struct resp *r);
void h_power(struct req *q, struct resp *r);
/* res_managers.c */
void h_managers(struct req *q, struct resp *r);
void h_manager(struct req *q, struct resp *r);
void h_log_services(struct req *q, struct resp *r);
void h_log_service(struct req *q, struct resp *r);
/* res_sel.c */
void h_sel_entries(struct req *q, struct resp *r);
void h_sel_entry(struct req *q, struct resp *r);
void h_sel_clear(struct req *q, struct resp *r);
/* res_dump.c */
void h_dump_entries(struct req *q, struct resp *r);
void h_dump_entry(struct req *q, struct resp *r);
void h_dump_data(struct req *q, struct resp *r);
/* res_tickets.c */
void h_dump_ticket(struct req *q, struct resp *r);

/* res_console.c */
void h_console_ws(struct req *q, struct resp *r);
/* A System's SerialConsole property: MaxConcurrentSessions and the WebSocket's ConsoleURI. */
json_t *serial_console_json(const char *vm);

/* res_upload.c */
void h_crash_upload(struct req *q, struct resp *r);

/* res_certs.c */
void h_cert_service(struct req *q, struct resp *r);
void h_cert_locations(struct req *q, struct resp *r);
void h_certs(struct req *q, struct resp *r);
void h_cert(struct req *q, struct resp *r);
void h_cert_replace(struct req *q, struct resp *r);
/* res_events.c (the SSE stream itself: sse.h) */
void h_event_service(struct req *q, struct resp *r);
/* res_subs.c */
void h_subscriptions(struct req *q, struct resp *r);
void h_subscription(struct req *q, struct resp *r);
void h_submit_test_event(struct req *q, struct resp *r);
/* res_tasks.c */
void h_task_service(struct req *q, struct resp *r);
void h_tasks(struct req *q, struct resp *r);
void h_task(struct req *q, struct resp *r);
void h_task_monitor(struct req *q, struct resp *r);
void h_collect_diag(struct req *q, struct resp *r);

/* Shared helpers (res_util.c) */
json_t *collection(const char *path, const char *type, const char *name, json_t *members);
/* An error reply from hv as a Redfish error (404 for ENOENT, 409 for EBUSY, ...). */
void hv_error(struct resp *r, json_t *reply);
/* The "ok" hv reply for a request, or NULL with r holding the error. */
json_t *hv_get(struct resp *r, json_t *req);
/* False when If-Match names another version of current (the caller answers 412). */
int if_match_ok(struct req *q, const json_t *current);

#endif
