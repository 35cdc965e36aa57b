"""test_agent_protocol.py: a Redfish protocol checker of our own, from the assertions DMTF's
Redfish-Protocol-Validator makes: it walks every resource the service links to and checks the
headers, the payload annotations, the methods, authentication and the error bodies."""
import re

import pytest

from agent import Agent, message_id
from vigil import Hv, guest

TYPE = re.compile(r"^#([A-Za-z]+)(\.v\d+_\d+_\d+)?\.([A-Za-z]+)$")
UNAUTHENTICATED = {"/redfish", "/redfish/v1", "/redfish/v1/", "/redfish/v1/odata", "/redfish/v1/$metadata"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("agent")
    (d / "hv").mkdir()
    hv = Hv(d / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--mem", "16"])
    hv.ok("switch", target="guest")
    hv.snapshot("guest")  # so that a Dump entry exists to be walked
    agent = Agent(hv, d / "agent")
    status, _, _ = agent.curl(  # so that a Task exists to be walked
        "/redfish/v1/Managers/hv/LogServices/Dump/Actions/LogService.CollectDiagnosticData",
        method="POST", data={"DiagnosticDataType": "OEM", "OEMDiagnosticDataType": "Vigil:guest"})
    assert status == 202
    status, _, _ = agent.curl(  # so that an EventDestination exists to be walked
        "/redfish/v1/EventService/Subscriptions", data={"Destination": "https://127.0.0.1:9/"})
    assert status == 201
    yield hv, agent, crawl(agent)
    assert agent.stop() == 0, agent.output()
    hv.stop()


def links(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "@odata.id" and isinstance(v, str):
                yield v
            else:
                yield from links(v)
    elif isinstance(value, list):
        for v in value:
            yield from links(v)


def crawl(agent):
    """Every resource reachable from the service root: {uri: (headers, payload)}."""
    seen, todo = {}, ["/redfish/v1/"]
    while todo:
        uri = todo.pop()
        if uri in seen:
            continue
        status, hd, body = agent.curl(uri)
        assert status == 200, (uri, status, body)
        seen[uri] = (hd, body)
        for link in links(body):
            link = link.split("#")[0]
            if link.startswith("/redfish/v1") and link not in seen and link != "/redfish/v1":
                todo.append(link)
    return seen


def one_per_type(seen):
    """One resource of each type (the method and authentication checks need no more; curl per
    request is what the nested machine pays for), plus the unauthenticated documents."""
    picked = {}
    for uri, (hd, body) in sorted(seen.items()):
        picked.setdefault(body["@odata.type"], (uri, hd, body))
    return [p for p in picked.values()]


def test_walk_reaches_every_resource_group(setup):
    _, _, seen = setup
    for uri in ("/redfish/v1/Systems/guest", "/redfish/v1/Chassis/vigil/Sensors/cpu_temp",
                "/redfish/v1/Managers/hv/LogServices/SEL/Entries", "/redfish/v1/AccountService/Roles/Operator",
                "/redfish/v1/Chassis/vigil/Thermal", "/redfish/v1/Managers/hv/LogServices/Dump/Entries",
                "/redfish/v1/Managers/hv/Oem/Vigil/Policy", "/redfish/v1/EventService",
                "/redfish/v1/TaskService/Tasks", "/redfish/v1/EventService/Subscriptions/1"):
        assert uri in seen, sorted(seen)
    assert any(u.startswith("/redfish/v1/TaskService/Tasks/") for u in seen), sorted(seen)
    assert len(seen) >= 30


def test_every_resource_has_its_annotations(setup):
    _, _, seen = setup
    for uri, (_, body) in seen.items():
        assert body["@odata.id"].rstrip("/") == uri.rstrip("/"), uri
        m = TYPE.match(body["@odata.type"])
        assert m, (uri, body["@odata.type"])
        assert "Name" in body, uri
        if m.group(1).endswith("Collection"):
            assert body["Members@odata.count"] >= len(body["Members"]), uri
            assert all(set(x) >= {"@odata.id"} for x in body["Members"]), uri
        elif uri != "/redfish/v1/":
            assert "Id" in body and uri.rstrip("/").endswith("/" + body["Id"]), uri


def test_every_response_has_the_protocol_headers(setup):
    _, _, seen = setup
    for uri, (hd, _) in seen.items():
        assert hd["odata-version"] == "4.0", uri
        assert hd["content-type"].startswith("application/json"), uri
        assert "GET" in hd["allow"] and "HEAD" in hd["allow"], uri
        assert re.fullmatch(r'(W/)?"[^"]+"', hd["etag"]), uri
        assert hd["cache-control"], uri


def test_head_is_get_without_a_body(setup):
    _, a, seen = setup
    for uri in list(seen)[:5]:
        status, hd, out = a.curl(uri, "-I")  # with -I, curl's output is the headers alone
        assert status == 200 and hd["odata-version"] == "4.0", uri
        assert out.endswith(b"\r\n\r\n") and b"{" not in out, uri


def test_unsupported_methods_get_405_with_allow(setup):
    _, a, seen = setup
    for uri, hd, _ in one_per_type(seen):
        allowed = {m.strip() for m in hd["allow"].split(",")}
        for method in ("PUT", "PATCH", "POST", "DELETE"):
            if method in allowed:
                continue
            status, rhd, body = a.curl(uri, method=method, data={} if method != "DELETE" else None)
            assert status == 405, (uri, method, status)
            assert rhd["allow"] == hd["allow"] and message_id(body) == "OperationNotAllowed", uri


def test_authentication_is_required_except_for_the_root_documents(setup):
    _, a, seen = setup
    for uri in [u for u, _, _ in one_per_type(seen)] + sorted(UNAUTHENTICATED - {"/redfish/v1"}):
        status, hd, body = a.curl(uri, user=None)
        if uri in UNAUTHENTICATED:
            assert status == 200, uri
        else:
            assert status == 401 and "www-authenticate" in hd and message_id(body) == "NoValidSession", uri
        status, _, _ = a.curl(uri, user=None, token="0" * 64)
        assert status == (200 if uri in UNAUTHENTICATED else 401), uri


def test_errors_carry_base_registry_messages(setup):
    _, a, _ = setup
    cases = [
        ("/redfish/v1/Nothing", {}, 404, "ResourceNotFound"),
        ("/redfish/v1/Systems/nobody", {}, 404, "ResourceNotFound"),
        ("/redfish/v1/Systems", dict(headers=["OData-Version: 4.1"]), 412, "PreconditionFailed"),
        ("/redfish/v1/SessionService/Sessions", dict(method="POST", data={"UserName": "admin"}, user=None),
         400, "PropertyMissing"),
        ("/redfish/v1/AccountService/Accounts/admin", dict(method="PATCH", data={"Color": "red"}), 400,
         "PropertyUnknown"),
        ("/redfish/v1/Systems/guest/Actions/ComputerSystem.Reset", dict(method="POST", data={}), 400,
         "ActionParameterMissing"),
    ]
    for uri, kw, want_status, want_id in cases:
        status, hd, body = a.curl(uri, **kw)
        assert status == want_status and message_id(body) == want_id, (uri, status, body)
        assert hd["odata-version"] == "4.0"


def test_metadata_and_odata_documents(setup):
    _, a, seen = setup
    status, hd, xml = a.curl("/redfish/v1/$metadata", user=None)
    assert status == 200 and hd["content-type"].startswith("application/xml")
    namespaces = set(re.findall(rb'Namespace="([A-Za-z]+)\.v', xml))
    for _, body in seen.values():  # every versioned type used is referenced
        m = TYPE.match(body["@odata.type"])
        if m.group(2):
            assert m.group(1).encode() in namespaces, body["@odata.type"]
    odata = a.get("/redfish/v1/odata", user=None)
    assert all(v["url"].startswith("/redfish/v1/") for v in odata["value"])
