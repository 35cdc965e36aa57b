"""test_agent.py: the native mgmt-agent against a real hv, through curl: the Redfish service's
root, authentication, Systems, sensors, the SEL and crash-core downloads."""
import base64
import hashlib

import pytest

from agent import PASSWORD, agent_on_hv, message_id


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("agent")
    with agent_on_hv(d) as (hv, agent):
        yield hv, agent


def test_service_root_odata_and_metadata_need_no_login(setup):
    _, a = setup
    status, hd, body = a.curl("/redfish", user=None)
    assert status == 200 and body == {"v1": "/redfish/v1/"}
    assert hd["odata-version"] == "4.0"
    root = a.get("/redfish/v1/", user=None)
    assert root["@odata.type"].startswith("#ServiceRoot.") and root["@odata.id"] == "/redfish/v1"
    for name in ("Systems", "Chassis", "Managers", "SessionService", "AccountService"):
        assert root[name]["@odata.id"] == f"/redfish/v1/{name}"
    odata = a.get("/redfish/v1/odata", user=None)
    assert {"name": "Systems", "kind": "Singleton", "url": "/redfish/v1/Systems"} in odata["value"]
    status, hd, xml = a.curl("/redfish/v1/$metadata", user=None)
    assert status == 200 and hd["content-type"].startswith("application/xml")
    assert b"ServiceRoot.v1_15_0" in xml and b"<edmx:Edmx" in xml


def test_everything_else_needs_credentials(setup):
    _, a = setup
    status, hd, body = a.curl("/redfish/v1/Systems", user=None)
    assert status == 401 and hd["www-authenticate"].startswith("Basic")
    assert message_id(body) == "NoValidSession"
    status, _, body = a.curl("/redfish/v1/Systems", user=("admin", "wrong-password-1"))
    assert status == 401 and message_id(body) == "NoValidSession"
    assert a.get("/redfish/v1/Systems")["Members@odata.count"] == 2  # Basic


def test_session_login_use_and_logout(setup):
    _, a = setup
    status, hd, body = a.curl("/redfish/v1/SessionService/Sessions", user=None, method="POST",
                              data={"UserName": "admin", "Password": PASSWORD})
    assert status == 201, body
    token, location = hd["x-auth-token"], hd["location"]
    assert location == body["@odata.id"] and location.startswith("/redfish/v1/SessionService/Sessions/")
    assert "set-cookie" not in hd
    assert a.get("/redfish/v1/Systems", token=token)["Members@odata.count"] == 2
    assert a.get(location, token=token)["UserName"] == "admin"
    status, _, _ = a.curl(location, token=token, method="DELETE")
    assert status == 204
    status, _, body = a.curl("/redfish/v1/Systems", token=token)
    assert status == 401 and message_id(body) == "NoValidSession"
    status, _, body = a.curl("/redfish/v1/SessionService/Sessions", user=None, method="POST",
                             data={"UserName": "admin", "Password": "not-the-password"})
    assert status == 401 and message_id(body)


def test_systems_switch_and_reset(setup):
    hv, a = setup
    systems = a.get("/redfish/v1/Systems")
    ids = sorted(m["@odata.id"] for m in systems["Members"])
    assert ids == ["/redfish/v1/Systems/guest", "/redfish/v1/Systems/service"]
    svc = a.get("/redfish/v1/Systems/service")
    assert svc["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"] == ["ForceRestart"]
    g = a.get("/redfish/v1/Systems/guest")
    assert set(g["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]) == {
        "On", "ForceOff", "ForceRestart", "Nmi", "Pause", "Resume"}
    status, _, _ = a.curl(g["Actions"]["Oem"]["#Vigil.Switch"]["target"], method="POST", data={})
    assert status == 204
    assert hv.status()["foreground"] == "guest"
    assert a.get("/redfish/v1/Systems/guest")["Oem"]["Vigil"]["Foreground"] is True
    hv.wait_for(lambda: hv.vm("guest")["state"] == "running", 10, "the guest running")
    reset = g["Actions"]["#ComputerSystem.Reset"]["target"]
    status, _, body = a.curl(reset, method="POST", data={"ResetType": "Pause"})
    assert status == 204, body
    assert hv.vm("guest")["state"] == "paused"
    assert a.get("/redfish/v1/Systems/guest")["PowerState"] == "Paused"
    status, _, _ = a.curl(reset, method="POST", data={"ResetType": "Resume"})
    assert status == 204 and hv.vm("guest")["state"] == "running"
    status, _, body = a.curl(reset, method="POST", data={"ResetType": "Explode"})
    assert status == 400 and message_id(body) == "ActionParameterValueNotInList"
    status, _, body = a.curl("/redfish/v1/Systems/service/Actions/ComputerSystem.Reset",
                             method="POST", data={"ResetType": "Pause"})
    assert status == 400 and message_id(body) == "ActionParameterValueNotInList"
    assert hv.vm("service")["state"] == "running"
    status, hd, body = a.curl(reset, method="GET")
    assert status == 405 and hd["allow"] == "POST" and message_id(body) == "OperationNotAllowed"


def test_sensors_thresholds_and_legacy_thermal_power(setup):
    hv, a = setup
    names = {s["Id"] for s in hv.ok("sensors")["sensors"]}
    coll = a.get("/redfish/v1/Chassis/vigil/Sensors")
    assert {m["@odata.id"].rsplit("/", 1)[1] for m in coll["Members"]} == names
    cpu = a.get("/redfish/v1/Chassis/vigil/Sensors/cpu_temp")
    assert cpu["@odata.type"].startswith("#Sensor.") and cpu["ReadingUnits"] == "Cel"
    assert cpu["Thresholds"]["UpperCritical"]["Reading"] > cpu["Thresholds"]["UpperCaution"]["Reading"]
    thermal = a.get("/redfish/v1/Chassis/vigil/Thermal")
    assert any(t["Name"] == "CPU Temp" and "ReadingCelsius" in t for t in thermal["Temperatures"])
    assert thermal["Fans"] and all(f["ReadingUnits"] == "RPM" for f in thermal["Fans"])
    power = a.get("/redfish/v1/Chassis/vigil/Power")
    assert power["Voltages"] and all("ReadingVolts" in v for v in power["Voltages"])


def test_sel_paging_and_clear(setup):
    hv, a = setup
    want = [e["Id"] for e in hv.ok("sel", max=1000)["entries"]]
    assert len(want) >= 3
    got, url = [], "/redfish/v1/Managers/hv/LogServices/SEL/Entries?$top=2"
    while url:
        page = a.get(url)
        assert len(page["Members"]) <= 2
        got += [m["Id"] for m in page["Members"]]
        url = page.get("Members@odata.nextLink")
    assert got[: len(want)] == want
    sel = a.get("/redfish/v1/Managers/hv/LogServices/SEL")
    clear = sel["Actions"]["#LogService.ClearLog"]["target"]
    status, _, _ = a.curl(clear, method="POST", data={})
    assert status == 204
    left = a.get("/redfish/v1/Managers/hv/LogServices/SEL/Entries")
    assert left["Members@odata.count"] <= 2  # the clear is itself logged


def test_dump_snapshot_download_with_resume(setup, tmp_path):
    hv, a = setup
    before = {m["Id"] for m in a.get("/redfish/v1/Managers/hv/LogServices/Dump/Entries")["Members"]}
    status, _, body = a.curl("/redfish/v1/Systems/guest/Actions/Oem/Vigil.Snapshot", method="POST", data={})
    assert status == 202, body

    def new_entry():
        ms = a.get("/redfish/v1/Managers/hv/LogServices/Dump/Entries")["Members"]
        # hv computes the core's digest once the core is durable ("pending" until then; a
        # download meanwhile gets 503 with Retry-After).
        return next((m for m in ms if m["Id"] not in before and len(m["Oem"]["Vigil"]["Sha256"]) == 64), None)
    entry = hv.wait_for(new_entry, 60, "the snapshot's Dump entry with its digest")
    url, size = entry["AdditionalDataURI"], entry["AdditionalDataSizeBytes"]
    core = tmp_path / "core"
    # The first half, as an interrupted download would leave it; then curl resumes (-C -).
    status, hd, _ = a.curl(url, "-r", f"0-{size // 2 - 1}", out=str(core))
    assert status == 206 and hd["content-range"] == f"bytes 0-{size // 2 - 1}/{size}"
    assert core.stat().st_size == size // 2
    status, hd, _ = a.curl(url, "-C", "-", out=str(core))
    assert status == 206 and hd["content-range"] == f"bytes {size // 2}-{size - 1}/{size}"
    data = core.read_bytes()
    assert len(data) == size
    digest = hd["repr-digest"]
    assert digest == "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    assert hd["etag"] == '"' + hashlib.sha256(data).hexdigest() + '"'
    # If-Range with another validator: the whole core, not a part of a different one.
    status, hd, _ = a.curl(url, "-I", "-r", "0-9", headers=['If-Range: "stale"'])  # HEAD
    assert status == 200 and int(hd["content-length"]) == size
    status, hd, _ = a.curl(url, "-I", "-r", "0-9", headers=[f"If-Range: {hd['etag']}"])
    assert status == 206 and hd["content-range"] == f"bytes 0-9/{size}"
    status, hd, body = a.curl(url, "-r", f"{size}-")
    assert status == 416 and hd["content-range"] == f"bytes */{size}" and message_id(body)
    status, _, _ = a.curl(entry["@odata.id"], method="DELETE")
    assert status == 204
    status, _, body = a.curl(entry["@odata.id"])
    assert status == 404 and message_id(body) == "ResourceNotFound"


def test_roles_are_enforced(setup):
    hv, a = setup
    for user, role in (("olivia", "Operator"), ("rita", "ReadOnly")):
        status, hd, body = a.curl("/redfish/v1/AccountService/Accounts", method="POST",
                                  data={"UserName": user, "Password": f"{user}-pass-123", "RoleId": role})
        assert status == 201, body
        assert hd["location"] == f"/redfish/v1/AccountService/Accounts/{user}"
    ro, op = ("rita", "rita-pass-123"), ("olivia", "olivia-pass-123")
    assert a.get("/redfish/v1/Systems/guest", user=ro)["Id"] == "guest"
    reset = "/redfish/v1/Systems/guest/Actions/ComputerSystem.Reset"
    writes = [
        (reset, "POST", {"ResetType": "Pause"}),
        ("/redfish/v1/Systems/guest/Actions/Oem/Vigil.Switch", "POST", {}),
        ("/redfish/v1/Managers/hv/LogServices/SEL/Actions/LogService.ClearLog", "POST", {}),
        ("/redfish/v1/AccountService/Accounts", "POST",
         {"UserName": "x", "Password": "x-pass-1234", "RoleId": "Administrator"}),
        ("/redfish/v1/AccountService/Accounts/olivia", "PATCH", {"RoleId": "Administrator"}),
        ("/redfish/v1/AccountService/Accounts/olivia", "DELETE", None),
        ("/redfish/v1/SessionService", "PATCH", {"SessionTimeout": 60}),
    ]
    state = hv.vm("guest")["state"]
    for url, method, data in writes:
        status, _, body = a.curl(url, user=ro, method=method, data=data)
        assert status == 403 and message_id(body) == "InsufficientPrivilege", (url, method, status, body)
    assert hv.vm("guest")["state"] == state
    # An operator configures components but not users or the manager.
    status, _, body = a.curl(reset, user=op, method="POST", data={"ResetType": "Pause"})
    assert status == 204, body
    a.curl(reset, user=op, method="POST", data={"ResetType": "Resume"})
    for url, method, data in writes[2:]:
        status, _, body = a.curl(url, user=op, method=method, data=data)
        assert status == 403 and message_id(body) == "InsufficientPrivilege", (url, method, status)
    # ConfigureSelf: a read-only user changes their own password, not their role.
    status, _, body = a.curl("/redfish/v1/AccountService/Accounts/rita", user=ro, method="PATCH",
                             data={"RoleId": "Administrator"})
    assert status == 403
    status, _, body = a.curl("/redfish/v1/AccountService/Accounts/rita", user=ro, method="PATCH",
                             data={"Password": "rita-new-pass-1"})
    assert status == 200, body
    assert a.curl("/redfish/v1/Systems", user=ro)[0] == 401
    assert a.curl("/redfish/v1/Systems", user=("rita", "rita-new-pass-1"))[0] == 200
    roles = a.get("/redfish/v1/AccountService/Roles/ReadOnly")
    assert roles["AssignedPrivileges"] == ["Login", "ConfigureSelf"]


def test_if_match_on_patch(setup):
    _, a = setup
    status, hd, _ = a.curl("/redfish/v1/SessionService")
    assert status == 200 and hd["etag"]
    status, _, body = a.curl("/redfish/v1/SessionService", method="PATCH",
                             data={"SessionTimeout": 600}, headers=['If-Match: "0000"'])
    assert status == 412 and message_id(body) == "PreconditionFailed"
    status, _, body = a.curl("/redfish/v1/SessionService", method="PATCH",
                             data={"SessionTimeout": 600}, headers=[f"If-Match: {hd['etag']}"])
    assert status == 200 and body["SessionTimeout"] == 600


def test_lockout_after_repeated_failures(setup):
    _, a = setup
    a.add_account("lou", "lou-pass-1234", "ReadOnly")
    # 5 failures lock for 5 s, each further one doubles it: 8 make 40 s, longer than any of
    # the next requests takes even in the nested machine.
    for _ in range(8):
        assert a.curl("/redfish/v1/Systems", user=("lou", "guess-guess"))[0] == 401
    assert a.curl("/redfish/v1/Systems", user=("lou", "lou-pass-1234"))[0] == 401  # locked
    assert a.get("/redfish/v1/AccountService/Accounts/lou")["Locked"] is True
    status, _, _ = a.curl("/redfish/v1/AccountService/Accounts/lou", method="PATCH", data={"Locked": False})
    assert status == 200
    assert a.curl("/redfish/v1/Systems", user=("lou", "lou-pass-1234"))[0] == 200
