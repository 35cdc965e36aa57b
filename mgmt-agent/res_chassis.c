/* res_chassis.c: the Chassis, its Sensors (hv's virtual BMC), and the legacy Thermal/Power. */
#include "hvlink.h"
#include "resources.h"

#include <stdio.h>
#include <string.h>

#define CHASSIS "/redfish/v1/Chassis/vigil"

void h_chassis_coll(struct req *q, struct resp *r)
{
    (void)q;
    json_t *m = json_pack("[o]", odata_link(CHASSIS));
    resp_json(r, 200,
              collection("/redfish/v1/Chassis", "#ChassisCollection.ChassisCollection",
                         "Chassis Collection", m));
}

static int chassis_ok(struct req *q, struct resp *r)
{
    if (!strcmp(ARG(q, 1), "vigil"))
        return 1;
    resp_error(r, 404, "ResourceNotFound", "no chassis %s (there is one: vigil)", ARG(q, 1));
    return 0;
}

void h_chassis(struct req *q, struct resp *r)
{
    if (!chassis_ok(q, r))
        return;
    resp_json(r, 200,
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:o, s:o, s:{s:[o], s:[o]}}",
                        "@odata.id", CHASSIS, "@odata.type", "#Chassis.v1_23_0.Chassis", "Id",
                        "vigil", "Name", "Vigil appliance", "ChassisType", "RackMount", "Status",
                        "State", "Enabled", "Health", "OK", "Sensors",
                        odata_link(CHASSIS "/Sensors"), "Thermal", odata_link(CHASSIS "/Thermal"),
                        "Power", odata_link(CHASSIS "/Power"), "Links", "ComputerSystems",
                        odata_link("/redfish/v1/Systems/guest"), "ManagedBy",
                        odata_link("/redfish/v1/Managers/hv")));
}

static json_t *sensors(struct resp *r)
{
    json_t *rep = hv_get(r, json_pack("{s:s}", "op", "sensors"));
    if (!rep)
        return NULL;
    json_t *s = json_incref(json_object_get(rep, "sensors"));
    json_decref(rep);
    return s;
}

void h_sensors(struct req *q, struct resp *r)
{
    json_t *all = chassis_ok(q, r) ? sensors(r) : NULL, *s, *m = json_array();
    size_t i;
    json_array_foreach(all, i, s)
    {
        char path[160];
        snprintf(path, sizeof path, CHASSIS "/Sensors/%s",
                 json_string_value(json_object_get(s, "Id")));
        json_array_append_new(m, odata_link(path));
    }
    if (all)
        resp_json(
            r, 200,
            collection(CHASSIS "/Sensors", "#SensorCollection.SensorCollection", "Sensors", m));
    else
        json_decref(m);
    json_decref(all);
}

void h_sensor(struct req *q, struct resp *r)
{
    json_t *all = chassis_ok(q, r) ? sensors(r) : NULL, *s, *found = NULL;
    size_t i;
    json_array_foreach(all, i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "Id")), ARG(q, 3)))
            found = s;
    }
    if (found) {
        char path[160];
        snprintf(path, sizeof path, CHASSIS "/Sensors/%s", ARG(q, 3));
        json_t *out = json_deep_copy(found);
        json_object_set_new(out, "@odata.id", json_string(path));
        json_object_set_new(out, "@odata.type", json_string("#Sensor.v1_7_0.Sensor"));
        resp_json(r, 200, out);
    } else if (all) {
        resp_error(r, 404, "ResourceNotFound", "no sensor %s", ARG(q, 3));
    }
    json_decref(all);
}

static json_t *threshold(json_t *s, const char *which)
{
    return json_object_get(json_object_get(json_object_get(s, "Thresholds"), which), "Reading");
}

/* One legacy Thermal/Power member: the reading under its old name, the thresholds. */
static json_t *legacy(json_t *s, const char *path, const char *array, size_t idx,
                      const char *reading_name)
{
    char id[200], mid[16];
    snprintf(id, sizeof id, "%s#/%s/%zu", path, array, idx);
    snprintf(mid, sizeof mid, "%zu", idx);
    json_t *m = json_pack("{s:s, s:s, s:O, s:O, s:O}", "@odata.id", id, "MemberId", mid, "Name",
                          json_object_get(s, "Name"), reading_name, json_object_get(s, "Reading"),
                          "Status", json_object_get(s, "Status"));
    static const char *const map[][2] = {{"UpperCaution", "UpperThresholdNonCritical"},
                                         {"UpperCritical", "UpperThresholdCritical"},
                                         {"LowerCaution", "LowerThresholdNonCritical"},
                                         {"LowerCritical", "LowerThresholdCritical"}};
    for (size_t i = 0; i < 4; i++)
        if (threshold(s, map[i][0]))
            json_object_set(m, map[i][1], threshold(s, map[i][0]));
    if (json_object_get(s, "PhysicalContext"))
        json_object_set(m, "PhysicalContext", json_object_get(s, "PhysicalContext"));
    return m;
}

static void legacy_resource(struct req *q, struct resp *r, int thermal)
{
    json_t *all = chassis_ok(q, r) ? sensors(r) : NULL, *s;
    if (!all)
        return;
    const char *path = thermal ? CHASSIS "/Thermal" : CHASSIS "/Power";
    json_t *a = json_array(), *b = json_array();
    size_t i;
    json_array_foreach(all, i, s)
    {
        const char *type = json_string_value(json_object_get(s, "ReadingType"));
        if (thermal && !strcmp(type, "Temperature"))
            json_array_append_new(
                a, legacy(s, path, "Temperatures", json_array_size(a), "ReadingCelsius"));
        else if (thermal && !strcmp(type, "Rotational")) {
            json_t *f = legacy(s, path, "Fans", json_array_size(b), "Reading");
            json_object_set_new(f, "ReadingUnits", json_string("RPM"));
            json_array_append_new(b, f);
        } else if (!thermal && !strcmp(type, "Voltage"))
            json_array_append_new(a,
                                  legacy(s, path, "Voltages", json_array_size(a), "ReadingVolts"));
    }
    json_decref(all);
    json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "@odata.id", path, "@odata.type",
                            thermal ? "#Thermal.v1_7_1.Thermal" : "#Power.v1_7_1.Power", "Id",
                            thermal ? "Thermal" : "Power", "Name", thermal ? "Thermal" : "Power");
    json_object_set_new(out, thermal ? "Temperatures" : "Voltages", a);
    if (thermal)
        json_object_set_new(out, "Fans", b);
    else
        json_decref(b);
    resp_json(r, 200, out);
}

void h_thermal(struct req *q, struct resp *r)
{
    legacy_resource(q, r, 1);
}

void h_power(struct req *q, struct resp *r)
{
    legacy_resource(q, r, 0);
}
