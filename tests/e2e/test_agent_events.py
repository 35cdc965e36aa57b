"""test_agent_events.py: the EventService's SSE stream and the TaskService, natively against a real
hv: switches, crashes and sensor crossings arrive; replay with Last-Event-ID; $filter; roles; a
dump collected through a task; a stalled reader costs the others nothing; the README's recipes."""
import hashlib
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from agent import PASSWORD, Agent, message_id
from sse import END, Stream, origin, record
from vigil import ROOT, Hv, guest, scaled

SWITCHED = "Vigil.1.0.ForegroundSwitched"
DUMP_ACTION = "/redfish/v1/Managers/hv/LogServices/Dump/Actions/LogService.CollectDiagnosticData"


def start(d):
    (d / "hv").mkdir()
    hv = Hv(d / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                       "--mem", "16"])
    return hv, Agent(hv, d / "agent")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("events")
    hv, agent = start(d)
    yield hv, agent, d
    assert agent.stop() == 0, agent.output()  # a clean exit: no sanitizer report
    hv.stop()


def switch_to(hv, target):
    hv.ok("switch", target=target)


def login(a, user, password):
    status, hd, body = a.curl("/redfish/v1/SessionService/Sessions", user=None, method="POST",
                              data={"UserName": user, "Password": password})
    assert status == 201, body
    return hd["x-auth-token"], hd["location"]


def test_event_service_resource(setup):
    _, a, _ = setup
    es = a.get("/redfish/v1/EventService")
    assert es["ServerSentEventUri"] == "/redfish/v1/EventService/SSE"
    assert es["SSEFilterPropertiesSupported"]["EventType"] is True
    assert a.get("/redfish/v1/")["EventService"]["@odata.id"] == "/redfish/v1/EventService"
    assert a.get("/redfish/v1/")["TaskService"]["@odata.id"] == "/redfish/v1/TaskService"
    status, hd, body = a.curl(es["ServerSentEventUri"], method="POST", data={})
    assert status == 405 and hd["allow"] == "GET, HEAD" and message_id(body) == "OperationNotAllowed"
    status, hd, _ = a.curl(es["ServerSentEventUri"], "-I")
    assert status == 200 and hd["content-type"].startswith("text/event-stream")
    dump = a.get("/redfish/v1/Managers/hv/LogServices/Dump")
    assert dump["Actions"]["#LogService.CollectDiagnosticData"]["target"] == DUMP_ACTION


def test_switch_event_arrives_with_its_id(setup):
    hv, a, _ = setup
    s = Stream(a)
    try:
        assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
        t0 = time.monotonic()
        switch_to(hv, "guest")
        ev, _ = s.wait(lambda r: r["MessageId"] == SWITCHED and origin(r) == "/redfish/v1/Systems/guest",
                       5, "the switch event")
        print(f"switch -> SSE event: {1000 * (ev['at'] - t0):.1f} ms")
        rec = record(ev)
        assert ev["id"] == rec["EventId"] == ev["data"]["Id"]
        assert ev["data"]["@odata.type"].startswith("#Event.")
        assert rec["EventType"] == "StatusChange" and rec["Severity"] == "OK"
        assert rec["LogEntry"]["@odata.id"].startswith("/redfish/v1/Managers/hv/LogServices/SEL/Entries/")
        switch_to(hv, "service")
        s.wait(lambda r: r["MessageId"] == SWITCHED and origin(r) == "/redfish/v1/Systems/service", 5)
    finally:
        s.close()


def test_sensor_crossing_and_recovery_arrive(setup):
    hv, a, _ = setup
    s = Stream(a)
    try:
        hv.ok("sensors.override", name="cpu_temp", value=120)
        ev, _ = s.wait(lambda r: r["MessageId"] == "Vigil.1.0.SensorThresholdCrossed", 5)
        rec = record(ev)
        assert rec["EventType"] == "Alert" and rec["Severity"] == "Critical"
        assert origin(rec) == "/redfish/v1/Chassis/vigil/Sensors/cpu_temp"
        assert a.get(origin(rec))["Id"] == "cpu_temp"
        hv.ok("sensors.override", name="cpu_temp", value=None)
        ev, _ = s.wait(lambda r: r["MessageId"] == "Vigil.1.0.SensorRecovered", 5)
        assert origin(record(ev)) == "/redfish/v1/Chassis/vigil/Sensors/cpu_temp"
    finally:
        s.close()


READINGS = "Vigil.1.0.SensorReadings"


def test_sensor_readings_while_a_stream_is_open(setup):
    """Every few seconds, while someone reads the stream, one record carries every sensor's
    reading (what a dashboard plots without polling); a $filter can leave them out; nobody
    listening: none are made."""
    hv, a, _ = setup
    s = Stream(a)
    quiet = Stream(a, query="?$filter=" + f"MessageId ne '{READINGS}'".replace(" ", "%20")
                   .replace("'", "%27"))
    try:
        ev, _ = s.wait(lambda r: r["MessageId"] == READINGS, 12, "a sensor reading")
        rec = record(ev)
        assert rec["EventType"] == "Other" and rec["Severity"] == "OK"
        assert origin(rec) == "/redfish/v1/Chassis/vigil/Sensors"
        readings = {x["Id"]: x for x in rec["Oem"]["Vigil"]["Readings"]}
        sensors = a.get("/redfish/v1/Chassis/vigil/Sensors")["Members"]
        assert len(readings) == len(sensors) > 0
        assert rec["Message"] == f"{len(readings)} sensor readings"
        cpu = readings["cpu_temp"]
        assert cpu["ReadingType"] == "Temperature" and isinstance(cpu["Reading"], (int, float))
        assert cpu["Name"] == a.get("/redfish/v1/Chassis/vigil/Sensors/cpu_temp")["Name"]
        # An override shows in a later reading (the next one, or the one after if the override
        # raced the reading being made).
        hv.ok("sensors.override", name="cpu_temp", value=61)
        s.wait(lambda r: r["MessageId"] == READINGS and any(
            x["Id"] == "cpu_temp" and x["Reading"] == 61 for x in r["Oem"]["Vigil"]["Readings"]),
            12, "a reading with the override")
        hv.ok("sensors.override", name="cpu_temp", value=None)
        switch_to(hv, "guest")  # after readings went out: the filtered stream gets only this
        ev, seen = quiet.wait(lambda r: r["MessageId"] == SWITCHED, 5)
        assert all(record(e)["MessageId"] != READINGS for e in seen)
        switch_to(hv, "service")
    finally:
        s.close()
        quiet.close()
    hv.wait_for(lambda: a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["StreamsOpen"] == 0, 5,
                "the agent noticing the clients left")

    def last_id():
        return a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["LastEventId"]
    last = None
    while last != (now := last_id()):  # the switches' events may still be on their way
        last = now
        time.sleep(1)
    time.sleep(6)  # longer than the period: a reading would have been made by now
    assert last_id() == last, "a sensor reading made with no stream open"


def test_reconnect_with_last_event_id_misses_nothing(setup):
    hv, a, _ = setup
    s = Stream(a)
    switch_to(hv, "guest")
    ev, _ = s.wait(lambda r: r["MessageId"] == SWITCHED, 5)
    s.close()
    hv.wait_for(lambda: a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["StreamsOpen"] == 0, 5,
                "the agent noticing the client left")
    for target in ("service", "guest", "service"):  # while nobody listens
        switch_to(hv, target)
    boot, n = ev["id"].rsplit("-", 1)

    def seq(event_id):
        return int(event_id.rsplit("-", 1)[1])
    last = hv.wait_for(lambda: (i := a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["LastEventId"])
                       and seq(i) >= int(n) + 3 and i, 5, "the agent reading hv's events")
    want = [f"{boot}-{i}" for i in range(int(n) + 1, int(last.rsplit("-", 1)[1]) + 1)]
    assert len(want) >= 3
    for how in ("header", "query"):
        if how == "header":
            r = Stream(a, last_id=ev["id"])
        else:
            r = Stream(a, query="?Last-Event-ID=" + ev["id"])
        try:
            got = [r.next(5) for _ in want]
            assert [g["id"] for g in got if g not in (None, END)] == want, how
            switches = [origin(record(g)) for g in got if record(g)["MessageId"] == SWITCHED]
            assert switches == ["/redfish/v1/Systems/service", "/redfish/v1/Systems/guest",
                                "/redfish/v1/Systems/service"]
        finally:
            r.close()


def test_aged_out_id_gets_event_buffer_exceeded(setup):
    hv, a, _ = setup
    es = a.get("/redfish/v1/EventService")["Oem"]["Vigil"]
    first = es["OldestEventId"]
    # Each override is two events (the operator's SEL entry, a crossing or a recovery):
    # enough of them push the oldest id out of the agent's 1024-event buffer.
    burst(hv, a, 560)
    hv.wait_for(lambda: a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["OldestEventId"] != first,
                20, "the buffer wrapping")
    oldest = a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["OldestEventId"]
    s = Stream(a, last_id=first)
    try:
        ev = s.next(5)
        assert record(ev)["MessageId"] == "Base.1.16.0.EventBufferExceeded"
        # Its id is the one just before the oldest record held, and the replay goes on from there.
        assert ev["id"].split("-")[0] == oldest.split("-")[0]
        assert int(ev["id"].rsplit("-", 1)[1]) + 1 >= int(oldest.rsplit("-", 1)[1])
        nxt = s.next(5)
        assert int(nxt["id"].rsplit("-", 1)[1]) == int(ev["id"].rsplit("-", 1)[1]) + 1
    finally:
        s.close()
    s = Stream(a, last_id="0badb007-3")  # another run of the agent: everything may be lost
    try:
        assert record(s.next(5))["MessageId"] == "Base.1.16.0.EventBufferExceeded"
    finally:
        s.close()
    s = Stream(a, last_id="not-an-id")
    assert s.status == 400 and message_id(s.body) == "QueryParameterValueFormatError"


def last_seq(a):
    return int(a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["LastEventId"].rsplit("-", 1)[1])


def burst(hv, a, n):
    """n sensor overrides (2n events), in rounds that hv's 256-event ring holds until the agent
    has read them."""
    with hv.connect() as sock:
        for start in range(0, n, 50):
            before = last_seq(a)
            for i in range(start, min(n, start + 50)):
                frame_call(sock, "sensors.override", name="cpu_temp", value=120 if i % 2 == 0 else None)
            hv.wait_for(lambda: last_seq(a) >= before + 2 * (min(n, start + 50) - start), 10,
                        "the agent reading the burst")


def frame_call(sock, op, **fields):
    """One control request on an open socket (many in a row, without a connect each)."""
    from vigil import frame, read_response
    sock.sendall(frame({"op": op, **fields}))
    resp, _ = read_response(sock)
    assert resp["ok"], resp


def test_filter_on_event_type_message_id_and_origin(setup):
    hv, a, _ = setup
    alerts = Stream(a, query="?$filter=EventType%20eq%20Alert")
    mixed = Stream(a, query="?$filter=" + "(MessageId eq 'Vigil.1.0.ForegroundSwitched') or "
                   "(OriginResource eq '/redfish/v1/Chassis/vigil/Sensors/cpu_temp' and "
                   "EventType ne StatusChange)".replace(" ", "%20").replace("'", "%27"))
    try:
        assert alerts.status == 200 and mixed.status == 200
        switch_to(hv, "guest")
        switch_to(hv, "service")
        hv.ok("sensors.override", name="cpu_temp", value=120)
        hv.ok("sensors.override", name="cpu_temp", value=None)
        ev, seen = alerts.wait(lambda r: r["MessageId"] == "Vigil.1.0.SensorThresholdCrossed", 5)
        assert all(record(e)["EventType"] == "Alert" for e in seen)
        _, seen = mixed.wait(lambda r: r["MessageId"] == "Vigil.1.0.SensorThresholdCrossed", 5)
        assert [record(e)["MessageId"] for e in seen] == [SWITCHED, SWITCHED,
                                                           "Vigil.1.0.SensorThresholdCrossed"]
        # The recovery is a StatusChange: filtered out; the next switch still comes.
        switch_to(hv, "guest")
        ev = mixed.next(5)
        assert record(ev)["MessageId"] == SWITCHED
    finally:
        alerts.close()
        mixed.close()
    switch_to(hv, "service")
    bad = Stream(a, query="?$filter=Severity%20eq%20OK")
    assert bad.status == 400 and message_id(bad.body) == "QueryParameterValueFormatError"
    assert "EventType" in bad.body["error"]["message"]


def test_roles_read_only_reads_unauthenticated_gets_401_logout_ends(setup):
    hv, a, _ = setup
    status, _, body = a.curl("/redfish/v1/AccountService/Accounts", method="POST",
                             data={"UserName": "reader", "Password": "reader-pass-1", "RoleId": "ReadOnly"})
    assert status == 201, body
    s = Stream(a, user=None)
    assert s.status == 401 and message_id(s.body) == "NoValidSession"
    token, session = login(a, "reader", "reader-pass-1")
    s = Stream(a, token=token)
    basic = Stream(a, user=("reader", "reader-pass-1"))
    try:
        assert s.status == 200 and basic.status == 200
        switch_to(hv, "guest")
        s.wait(lambda r: r["MessageId"] == SWITCHED, 5)
        basic.wait(lambda r: r["MessageId"] == SWITCHED, 5)
        # ReadOnly may watch, not act: collecting a dump is refused.
        status, _, body = a.curl(DUMP_ACTION, user=("reader", "reader-pass-1"), method="POST",
                                 data={"DiagnosticDataType": "OEM", "OEMDiagnosticDataType": "Vigil:guest"})
        assert status == 403 and message_id(body) == "InsufficientPrivilege"
        status, _, _ = a.curl(session, token=token, method="DELETE")
        assert status == 204
        deadline = time.monotonic() + scaled(5)
        while (ev := s.next(5)) not in (None, END) and time.monotonic() < deadline:
            pass
        assert ev is END, "the stream outlived its session"
        # Deleting the account ends its Basic stream too.
        status, _, _ = a.curl("/redfish/v1/AccountService/Accounts/reader", method="DELETE")
        assert status == 204
        while (ev := basic.next(5)) not in (None, END):
            pass
        assert ev is END, "the stream outlived its account"
    finally:
        s.close()
        basic.close()
        switch_to(hv, "service")


def test_dump_collected_through_a_task(setup, tmp_path):
    hv, a, _ = setup
    s = Stream(a)
    try:
        status, hd, task = a.curl(DUMP_ACTION, method="POST",
                                  data={"DiagnosticDataType": "OEM", "OEMDiagnosticDataType": "Vigil:guest"})
        assert status == 202, task
        monitor = hd["location"]
        assert monitor.startswith("/redfish/v1/TaskService/TaskMonitors/") and int(hd["retry-after"]) >= 1
        assert task["TaskMonitor"] == monitor and task["TaskState"] in ("Running", "Completed")
        deadline = time.monotonic() + scaled(30)
        while True:
            status, hd, body = a.curl(monitor)
            if status != 202:
                break
            assert body["TaskState"] == "Running" and time.monotonic() < deadline
            time.sleep(0.2)
        assert status == 200 and body["TaskState"] == "Completed" and body["TaskStatus"] == "OK", body
        entry_uri = hd["location"]
        assert body["Payload"]["HttpHeaders"] == [f"Location: {entry_uri}"]
        assert body["Messages"][0]["MessageId"] == "TaskEvent.1.0.TaskCompletedOK"
        entry = a.get(entry_uri)
        core = tmp_path / "task.core"
        status, _, _ = a.curl(entry["AdditionalDataURI"], out=str(core))
        assert status == 200
        assert hashlib.sha256(core.read_bytes()).hexdigest() == entry["Oem"]["Vigil"]["Sha256"]
        tasks = a.get("/redfish/v1/TaskService/Tasks")
        assert body["@odata.id"] in [m["@odata.id"] for m in tasks["Members"]]
        assert a.get(body["@odata.id"])["TaskState"] == "Completed"
        ev, _ = s.wait(lambda r: r["MessageId"] == "TaskEvent.1.0.TaskCompletedOK", 5)
        assert origin(record(ev)) == body["@odata.id"]
        assert record(ev)["AdditionalDataURI"] == entry["AdditionalDataURI"]
    finally:
        s.close()
    for data, mid in (({"DiagnosticDataType": "Manager"}, "ActionParameterValueNotInList"),
                      ({"DiagnosticDataType": "OEM"}, "ActionParameterMissing"),
                      ({"DiagnosticDataType": "OEM", "OEMDiagnosticDataType": "guest"},
                       "ActionParameterValueFormatError"),
                      ({"DiagnosticDataType": "OEM", "OEMDiagnosticDataType": "Vigil:nosuchvm"},
                       "ResourceNotFound")):
        status, _, err = a.curl(DUMP_ACTION, method="POST", data=data)
        assert 400 <= status < 500 and message_id(err) == mid, (data, status, err)


def test_a_stalled_reader_does_not_delay_another(setup):
    hv, a, _ = setup
    # A client that asks for the stream and then reads nothing (a small receive window).
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", a.port))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    stalled = ctx.wrap_socket(raw)
    stalled.sendall(f"GET /redfish/v1/EventService/SSE HTTP/1.1\r\nHost: x\r\nX-Auth-Token: "
                    f"{login(a, 'admin', PASSWORD)[0]}\r\n\r\n".encode())
    s = Stream(a)
    try:
        hv.wait_for(lambda: a.get("/redfish/v1/EventService")["Oem"]["Vigil"]["StreamsOpen"] == 2, 5,
                    "both streams open")
        burst(hv, a, 300)  # ~600 events, far more than the stalled reader's windows
        t0 = time.monotonic()
        switch_to(hv, "guest")
        ev, seen = s.wait(lambda r: r["MessageId"] == SWITCHED, 15, "the switch after the burst")
        assert len(seen) >= 600
        ids = [int(e["id"].rsplit("-", 1)[1]) for e in seen]
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # nothing skipped
        assert ev["at"] - t0 < scaled(5)
    finally:
        s.close()
        stalled.close()
        switch_to(hv, "service")


def readme_blocks():
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- event-recipes -->")[1].split("<!-- /event-recipes -->")[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_readme_event_and_task_recipes(setup):
    hv, a, d = setup
    follow, collect = readme_blocks()
    env = dict(os.environ, H=a.base, V=a.base + "/redfish/v1", PASS=PASSWORD)
    # Without pipefail, as people run it: once head has its lines the pipe closes behind it
    # at the next events.
    p = subprocess.Popen(["bash", "-eu", "-c", follow], cwd=d, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + scaled(60)
    target = "guest"
    while p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.3)
        switch_to(hv, target)
        target = "service" if target == "guest" else "guest"
    out, err = p.communicate(timeout=scaled(10))
    assert p.returncode == 0, (out, err)
    lines = out.splitlines()
    assert len(lines) == 2 and all(line.startswith("StatusChange Vigil.1.0.") for line in lines), out
    assert "StatusChange Vigil.1.0.ForegroundSwitched /redfish/v1/Systems/guest" in lines, out
    switch_to(hv, "service")
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", collect], cwd=d, env=env,
                       capture_output=True, text=True, timeout=scaled(120))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "dump.core verified" in p.stdout, p.stdout


def test_crash_event_carries_the_core(tmp_path):
    hv, a = start(tmp_path)
    s = Stream(a)
    try:
        switch_to(hv, "guest")
        hv.wait_console("guest", "demo>")
        hv.type("guest", "crash panic\n")
        ev, seen = s.wait(lambda r: r["MessageId"] == "Vigil.1.0.GuestCrashed", 15, "the crash")
        rec = record(ev)
        assert rec["EventType"] == "Alert" and origin(rec) == "/redfish/v1/Systems/guest"
        assert "Vigil.1.0.TrapRaised" in [record(e)["MessageId"] for e in seen]  # the first notice
        uri = rec["AdditionalDataURI"]
        assert re.fullmatch(r"/redfish/v1/Managers/hv/LogServices/Dump/Entries/[\w.-]+/attachment", uri)
        entry_uri = uri.rsplit("/", 1)[0]
        entry = hv.wait_for(lambda: (e := a.get(entry_uri))["Oem"]["Vigil"]["Sha256"] != "pending" and e,
                            30, "the core's digest")
        assert entry["Oem"]["Vigil"]["Trigger"] == "trap:pvpanic"
        core = tmp_path / "crash.core"
        status, _, _ = a.curl(uri, out=str(core))
        assert status == 200 and hashlib.sha256(core.read_bytes()).hexdigest() == entry["Oem"]["Vigil"]["Sha256"]
    finally:
        s.close()
        assert a.stop() == 0, a.output()
        hv.stop()
