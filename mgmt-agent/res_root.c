/* res_root.c: /redfish, the service root, /redfish/v1/odata and $metadata (no auth). */
#include "agent.h"
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The schemas this service's resources use, for $metadata's references. */
static const char *const schemas[][2] = {
    {"ServiceRoot", "v1_15_0"},
    {"ComputerSystemCollection", ""},
    {"ComputerSystem", "v1_20_0"},
    {"ChassisCollection", ""},
    {"Chassis", "v1_23_0"},
    {"SensorCollection", ""},
    {"Sensor", "v1_7_0"},
    {"Thermal", "v1_7_1"},
    {"Power", "v1_7_1"},
    {"ManagerCollection", ""},
    {"Manager", "v1_17_0"},
    {"LogServiceCollection", ""},
    {"LogService", "v1_4_0"},
    {"LogEntryCollection", ""},
    {"LogEntry", "v1_15_0"},
    {"SessionService", "v1_1_9"},
    {"SessionCollection", ""},
    {"Session", "v1_6_0"},
    {"AccountService", "v1_13_0"},
    {"ManagerAccountCollection", ""},
    {"ManagerAccount", "v1_10_0"},
    {"RoleCollection", ""},
    {"Role", "v1_3_1"},
    {"Message", "v1_1_1"},
    {"Resource", "v1_16_0"},
    {"CertificateService", "v1_0_4"},
    {"CertificateLocations", "v1_0_4"},
    {"CertificateCollection", ""},
    {"Certificate", "v1_5_0"},
    {"EventService", "v1_10_0"},
    {"Event", "v1_10_0"},
    {"EventDestinationCollection", ""},
    {"EventDestination", "v1_13_0"},
    {"TaskService", "v1_2_1"},
    {"TaskCollection", ""},
    {"Task", "v1_7_3"},
};

static const char *const services[][2] = {
    {"Systems", "/redfish/v1/Systems"},
    {"Chassis", "/redfish/v1/Chassis"},
    {"Managers", "/redfish/v1/Managers"},
    {"SessionService", "/redfish/v1/SessionService"},
    {"AccountService", "/redfish/v1/AccountService"},
    {"CertificateService", "/redfish/v1/CertificateService"},
    {"EventService", "/redfish/v1/EventService"},
    {"TaskService", "/redfish/v1/TaskService"},
    {"Sessions", "/redfish/v1/SessionService/Sessions"},
};

void h_versions(struct req *q, struct resp *r)
{
    (void)q;
    resp_json(r, 200, json_pack("{s:s}", "v1", "/redfish/v1/"));
}

void h_root(struct req *q, struct resp *r)
{
    (void)q;
    json_t *root =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:o}, s:{s:b, s:b, s:b, s:b}}",
                  "@odata.id", "/redfish/v1", "@odata.type", "#ServiceRoot.v1_15_0.ServiceRoot",
                  "Id", "RootService", "Name", "Vigil Redfish Service", "RedfishVersion", "1.17.0",
                  "UUID", agent_uuid, "Product", "Vigil", "Links", "Sessions",
                  odata_link("/redfish/v1/SessionService/Sessions"), "ProtocolFeaturesSupported",
                  "ExcerptQuery", 0, "ExpandQuery", 0, "OnlyMemberQuery", 0, "FilterQuery", 0);
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (strcmp(services[i][0], "Sessions")) /* that one is under Links */
            json_object_set_new(root, services[i][0], odata_link(services[i][1]));
    resp_json(r, 200, root);
}

void h_odata(struct req *q, struct resp *r)
{
    (void)q;
    json_t *v = json_array();
    json_array_append_new(v, json_pack("{s:s, s:s, s:s}", "name", "Service", "kind", "Singleton",
                                       "url", "/redfish/v1/"));
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        json_array_append_new(v, json_pack("{s:s, s:s, s:s}", "name", services[i][0], "kind",
                                           "Singleton", "url", services[i][1]));
    resp_json(r, 200,
              json_pack("{s:s, s:o}", "@odata.context", "/redfish/v1/$metadata", "value", v));
}

void h_metadata(struct req *q, struct resp *r)
{
    (void)q;
    size_t cap = 16384, n = 0;
    char *x = malloc(cap);
    n += (size_t)snprintf(x + n, cap - n,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" "
                          "Version=\"4.0\">\n");
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        n += (size_t)snprintf(
            x + n, cap - n,
            "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/%s_v1.xml\">\n"
            "    <edmx:Include Namespace=\"%s\"/>\n",
            schemas[i][0], schemas[i][0]);
        if (schemas[i][1][0])
            n += (size_t)snprintf(x + n, cap - n, "    <edmx:Include Namespace=\"%s.%s\"/>\n",
                                  schemas[i][0], schemas[i][1]);
        n += (size_t)snprintf(x + n, cap - n, "  </edmx:Reference>\n");
    }
    /* Vigil's OEM types (res_policy.c, res_peek.c); their CSDL is not published yet. */
    static const char *const oem[] = {"VigilPolicy", "VigilRegisters"};
    for (size_t i = 0; i < sizeof oem / sizeof oem[0]; i++)
        n += (size_t)snprintf(x + n, cap - n,
                              "  <edmx:Reference Uri=\"/redfish/v1/Oem/Vigil/schemas/%s_v1.xml\">\n"
                              "    <edmx:Include Namespace=\"%s\"/>\n"
                              "    <edmx:Include Namespace=\"%s.v1_0_0\"/>\n"
                              "  </edmx:Reference>\n",
                              oem[i], oem[i], oem[i]);
    n += (size_t)snprintf(x + n, cap - n,
                          "  <edmx:DataServices>\n"
                          "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" "
                          "Namespace=\"Service\">\n"
                          "      <EntityContainer Name=\"Service\" "
                          "Extends=\"ServiceRoot.v1_15_0.ServiceContainer\"/>\n"
                          "    </Schema>\n  </edmx:DataServices>\n</edmx:Edmx>\n");
    r->status = 200;
    r->raw = MHD_create_response_from_buffer(n, x, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r->raw, "Content-Type", "application/xml");
}
