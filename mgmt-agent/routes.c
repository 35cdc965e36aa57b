/* routes.c: the Redfish URI table and dispatch: path match, id checks, 405, authentication,
 * and the privilege each method needs (the Redfish privilege registry's mapping). */
#include "routes.h"
#include "auth.h"
#include "oem.h"
#include "resources.h"
#include "sse.h"
#include "web.h"

#include <string.h>

#define RO   (M_GET)
#define L    P_LOGIN
#define CC   P_CONF_COMPONENTS
#define CM   P_CONF_MANAGER
#define CU   P_CONF_USERS
#define SELF P_CONF_SELF
/* Reading a guest's memory or registers: ConfigureUsers is the privilege only Administrator
 * holds, so this is "Administrator only" in the registry's terms. */
#define ADMIN P_CONF_USERS

static const struct route routes[] = {
    {"", RO, 0, 0, h_root},
    {"odata", RO, 0, 0, h_odata},
    {"$metadata", RO, 0, 0, h_metadata},
    {"SessionService", RO | M_PATCH, L, CM, h_session_service},
    {"SessionService/Sessions", RO | M_POST, L, 0, h_sessions},
    {"SessionService/Sessions/*", RO | M_DELETE, L, L, h_session},
    {"AccountService", RO, L, CU, h_account_service},
    {"AccountService/Accounts", RO | M_POST, L, CU, h_accounts},
    {"AccountService/Accounts/*", RO | M_PATCH | M_DELETE, L, SELF, h_account},
    {"AccountService/Roles", RO, L, CU, h_roles},
    {"AccountService/Roles/*", RO, L, CU, h_role},
    {"Systems", RO, L, CC, h_systems},
    {"Systems/*", RO, L, CC, h_system},
    {"Systems/*/Actions/ComputerSystem.Reset", M_POST, CC, CC, h_system_reset},
    {"Systems/*/Actions/Oem/Vigil.Switch", M_POST, CC, CC, h_system_switch},
    {"Systems/*/Actions/Oem/Vigil.Snapshot", M_POST, CC, CC, h_system_snapshot},
    {"Systems/*/Actions/Oem/Vigil.ReadMemory", M_POST, ADMIN, ADMIN, h_read_memory},
    {"Systems/*/Oem/Vigil/Registers", RO, ADMIN, ADMIN, h_registers},
    /* its own authentication: the token may come in Sec-WebSocket-Protocol (res_console.c) */
    {"Systems/*/SerialConsole/WebSocket", RO, 0, 0, h_console_ws},
    {"Chassis", RO, L, CC, h_chassis_coll},
    {"Chassis/*", RO, L, CC, h_chassis},
    {"Chassis/*/Sensors", RO, L, CC, h_sensors},
    {"Chassis/*/Sensors/*", RO, L, CC, h_sensor},
    {"Chassis/*/Thermal", RO, L, CC, h_thermal},
    {"Chassis/*/Power", RO, L, CC, h_power},
    {"Managers", RO, L, CM, h_managers},
    {"Managers/*", RO, L, CM, h_manager},
    {"Managers/*/LogServices", RO, L, CM, h_log_services},
    {"Managers/*/LogServices/*", RO, L, CM, h_log_service},
    {"Managers/*/LogServices/SEL/Entries", RO, L, CM, h_sel_entries},
    {"Managers/*/LogServices/SEL/Entries/*", RO, L, CM, h_sel_entry},
    {"Managers/*/LogServices/SEL/Actions/LogService.ClearLog", M_POST, CM, CM, h_sel_clear},
    {"Managers/*/LogServices/Dump/Entries", RO, L, CM, h_dump_entries},
    {"Managers/*/LogServices/Dump/Entries/*", RO | M_DELETE, L, CM, h_dump_entry},
    {"Managers/*/LogServices/Dump/Entries/*/attachment", RO, L, CM, h_dump_data},
    {"Managers/*/LogServices/Dump/Entries/*/Actions/Oem/Vigil.DownloadTicket", M_POST, L, L,
     h_dump_ticket},
    {"Managers/service/Oem/Vigil/CrashUpload", RO | M_PATCH, CM, CM, h_crash_upload},
    {"Managers/*/Oem/Vigil/Policy", RO | M_PATCH, L, CM, h_policy},
    {"Managers/*/NetworkProtocol/HTTPS/Certificates", RO, L, CM, h_certs},
    {"Managers/*/NetworkProtocol/HTTPS/Certificates/*", RO, L, CM, h_cert},
    {"CertificateService", RO, L, CM, h_cert_service},
    {"CertificateService/CertificateLocations", RO, L, CM, h_cert_locations},
    {"CertificateService/Actions/CertificateService.ReplaceCertificate", M_POST, CM, CM,
     h_cert_replace},
    /* events and tasks (res_events.c, sse.c, res_tasks.c) */
    {"EventService", RO | M_PATCH, L, CM, h_event_service},
    {"EventService/Subscriptions", RO | M_POST, L, CM, h_subscriptions},
    {"EventService/Subscriptions/*", RO | M_PATCH | M_DELETE, L, CM, h_subscription},
    {"EventService/Actions/EventService.SubmitTestEvent", M_POST, CM, CM, h_submit_test_event},
    {"EventService/SSE", RO, L, L, h_sse},
    {"TaskService", RO, L, CM, h_task_service},
    {"TaskService/Tasks", RO, L, CM, h_tasks},
    {"TaskService/Tasks/*", RO, L, CM, h_task},
    {"TaskService/TaskMonitors/*", RO, L, CM, h_task_monitor},
    {"Managers/*/LogServices/Dump/Actions/LogService.CollectDiagnosticData", M_POST, CC, CC,
     h_collect_diag},
};

int id_ok(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 64 && id[0] != '.' &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Matches q's segments from index 2 on; literal segments beat "*" (SEL before *). */
static int match(const struct route *rt, const struct req *q, int *ids_bad)
{
    char pat[128];
    strncpy(pat, rt->pattern, sizeof pat - 1);
    pat[sizeof pat - 1] = 0;
    int i = 2, bad = 0;
    char *save;
    for (char *p = strtok_r(pat, "/", &save); p; p = strtok_r(NULL, "/", &save), i++) {
        if (i >= q->nsegs)
            return 0;
        if (!strcmp(p, "*"))
            bad |= !id_ok(q->segs[i]);
        else if (strcmp(p, q->segs[i]))
            return 0;
    }
    *ids_bad = bad;
    return i == q->nsegs;
}

static const struct route *find(const struct req *q, int *ids_bad)
{
    const struct route *best = NULL;
    int best_stars = 99;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int bad;
        if (match(&routes[i], q, &bad)) {
            int stars = 0;
            for (const char *p = routes[i].pattern; *p; p++)
                stars += *p == '*';
            if (stars < best_stars)
                best = &routes[i], best_stars = stars, *ids_bad = bad;
        }
    }
    return best;
}

void routes_dispatch(struct req *q, struct resp *r)
{
    if (web_wants(q)) /* the dashboard's files: "/" and "/assets/<file>" (res_web.c) */
        return web_serve(q, r);
    if (metrics_wants(q)) /* Prometheus: "/metrics" (res_metrics.c) */
        return metrics_serve(q, r);
    if (q->nsegs == 0 || strcmp(q->segs[0], "redfish") ||
        (q->nsegs >= 2 && strcmp(q->segs[1], "v1"))) {
        resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
        return;
    }
    if (q->nsegs == 1) {
        r->allow = M_GET | M_HEAD;
        if (q->method & (M_GET | M_HEAD))
            h_versions(q, r);
        else
            resp_error(r, 405, "OperationNotAllowed", "%s is not allowed here",
                       method_name(q->method));
        return;
    }
    int ids_bad = 0;
    const struct route *rt = find(q, &ids_bad);
    if (!rt || ids_bad) {
        resp_error(r, 404, "ResourceNotFound", "no resource at %.200s", q->url);
        return;
    }
    int allowed = rt->methods | (rt->methods & M_GET ? M_HEAD : 0);
    r->allow = allowed;
    if (!(q->method & allowed)) {
        resp_error(r, 405, "OperationNotAllowed", "%s is not allowed on %.200s",
                   method_name(q->method), q->url);
        return;
    }
    int need = q->method & (M_GET | M_HEAD) ? rt->priv_read : rt->priv_write;
    if (need && auth_request(q, r))
        return;
    if (need && !(q->privs & need)) {
        resp_error(r, 403, "InsufficientPrivilege",
                   "%s on %.200s needs the %s privilege, which role %s lacks",
                   method_name(q->method), q->url, priv_name(need), role_name(q->role));
        return;
    }
    rt->fn(q, r);
}
