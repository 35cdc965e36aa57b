"""test_subscriptions.py: Redfish EventService push subscriptions: the native agent against hv, a
vigil-collector as the event listener (POST /events): crash events with the core's link, test
events, restarts of the agent and of hv, suspension after failed deliveries, bad input."""
import os
import re
import shutil
import signal
import subprocess
import time

from agent import PASSWORD, Agent, free_port, message_id
from vigil import ROOT, scaled
from test_upload import Collector, pki, start_hv, upload_args  # noqa: F401 (pki: a fixture)

SUBS = "/redfish/v1/EventService/Subscriptions"
TEST_EVENT = "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent"
SEL = "/redfish/v1/Managers/hv/LogServices/SEL/Entries?$top=1000"


def events(col):
    """The Event records the listener holds, each with its Event's Context."""
    return [dict(rec, Context=e["event"].get("Context")) for e in col.get("/events")["events"]
            for rec in e["event"]["Events"]]


def wait_event(hv, col, mid, what, timeout=20, after=0):
    def found():
        got = [e for e in events(col)[after:] if e["MessageId"] == mid]
        return got[0] if got else None
    return hv.wait_for(found, timeout, what)


def subscribe(a, port, **more):
    status, hd, body = a.curl(SUBS, data=dict(Destination=f"https://127.0.0.1:{port}/events", **more))
    assert status == 201, body
    assert hd["location"] == body["@odata.id"]
    return body["@odata.id"]


def test_crash_and_test_events_reach_a_subscriber_across_restarts(pki, tmp_path):  # noqa: F811
    port = free_port()
    col = Collector(pki, tmp_path / "store", port)
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))  # the CA the pushes trust too
    try:
        sub = subscribe(a, port, Context="ops-1", RegistryPrefixes=["Vigil"], EventFormatType="Event",
                        Protocol="Redfish")
        assert a.get(sub)["Status"]["State"] == "Enabled"
        assert [m["@odata.id"] for m in a.get(SUBS)["Members"]] == [sub]
        hv.wait_console("guest", "demo>")
        hv.type("guest", "crash ud2\n")
        crash = wait_event(hv, col, "Vigil.1.0.GuestCrashed", "the crash event at the listener")
        snap = crash["Oem"]["Vigil"]["SnapshotId"]
        assert crash["AdditionalDataURI"] == \
            f"/redfish/v1/Managers/hv/LogServices/Dump/Entries/{snap}/attachment"
        assert crash["Context"] == "ops-1"
        assert snap in [s["id"] for s in hv.ok("snapshot.list")["snapshots"]]
        entry = crash["AdditionalDataURI"].rsplit("/", 1)[0]  # 503 while hv hashes the core
        hv.wait_for(lambda: a.get(entry)["Oem"]["Vigil"]["Sha256"] != "pending", 30, "the digest")
        status, _, got = a.curl(crash["AdditionalDataURI"])  # the link is the core itself
        assert status == 200 and got[:4] == b"\x7fELF"
        assert all(e["MessageId"].startswith("Vigil.") for e in events(col))  # RegistryPrefixes

        status, _, _ = a.curl(TEST_EVENT, data={"Message": "hello from the test"})
        assert status == 204
        ev = wait_event(hv, col, "Vigil.1.0.TestEvent", "the test event")
        assert ev["Message"] == "hello from the test"

        a.stop()  # the agent restarts: the subscription is in hv's NV store
        a = Agent(hv, tmp_path / "agent2", args=upload_args(pki, port))
        assert a.get(sub)["Context"] == "ops-1"
        n = len(events(col))
        assert a.curl(TEST_EVENT, data={})[0] == 204
        wait_event(hv, col, "Vigil.1.0.TestEvent", "the test event after the agent's restart", after=n)

        hv.proc.send_signal(signal.SIGKILL)  # hv killed: its NV store keeps the record
        hv.proc.wait()
        a.stop(signal.SIGKILL)
        hv.conn.close()
        hv.log.close()
        hv = start_hv(tmp_path)
        a = Agent(hv, tmp_path / "agent3", args=upload_args(pki, port))
        assert a.get(sub)["Destination"] == f"https://127.0.0.1:{port}/events"
        n = len(events(col))
        assert a.curl(TEST_EVENT, data={})[0] == 204
        wait_event(hv, col, "Vigil.1.0.TestEvent", "the test event after hv's restart", after=n)
        assert a.stop() == 0, a.output()  # a clean exit: no sanitizer report
    finally:
        a.stop()
        hv.stop()
        col.stop()


def test_a_destination_that_is_down_is_suspended_then_resumed(pki, tmp_path):  # noqa: F811
    port = free_port()  # nobody listens yet
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))
    col = None
    try:
        status, _, body = a.curl("/redfish/v1/EventService", method="PATCH",
                                 data={"DeliveryRetryAttempts": 2, "DeliveryRetryIntervalSeconds": 1})
        assert status == 200 and body["DeliveryRetryAttempts"] == 2, body
        sub = subscribe(a, port)
        t0 = time.monotonic()
        assert a.curl(TEST_EVENT, data={})[0] == 204
        s = hv.wait_for(lambda: (lambda b: b if b["Status"]["State"] == "Disabled" else None)(a.get(sub)),
                        20, "the subscription suspended")
        assert time.monotonic() - t0 >= 2.0  # two retries, 1 s apart
        assert s["Oem"]["Vigil"]["FailedAttempts"] == 3 and "connect" in s["Oem"]["Vigil"]["LastError"]
        msgs = [m["Message"] for m in a.get(SEL)["Members"]]
        assert any("subscription" in m and "suspended after 3 failed deliveries" in m for m in msgs), msgs
        a.stop()  # suspended it stays, across a restart
        a = Agent(hv, tmp_path / "agent2", args=upload_args(pki, port))
        assert a.get(sub)["Status"]["State"] == "Disabled"
        assert a.curl(TEST_EVENT, data={})[0] == 204  # not delivered while suspended

        col = Collector(pki, tmp_path / "store", port)
        status, _, body = a.curl(sub, method="PATCH", data={"Status": {"State": "Enabled"}})
        assert status == 200 and body["Status"]["State"] == "Enabled", body
        assert a.curl(TEST_EVENT, data={"Message": "after resume"})[0] == 204
        ev = wait_event(hv, col, "Vigil.1.0.TestEvent", "the test event after resuming")
        assert ev["Message"] == "after resume" and len(events(col)) == 1
        assert a.get(sub)["Oem"]["Vigil"]["DeliveredEvents"] == 1
    finally:
        a.stop()
        hv.stop()
        if col:
            col.stop()


def test_bad_input_privileges_and_the_bound(tmp_path):
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent")
    try:
        status, _, _ = a.curl("/redfish/v1/AccountService/Accounts", method="POST",
                              data={"UserName": "rita", "Password": "reader-pass-1", "RoleId": "ReadOnly"})
        assert status == 201
        reader = ("rita", "reader-pass-1")
        ok = {"Destination": "https://127.0.0.1:9/events"}
        status, _, body = a.curl(SUBS, data=ok, user=reader)
        assert status == 403 and message_id(body) == "InsufficientPrivilege"
        assert a.curl(SUBS, user=reader)[0] == 200
        assert a.curl(TEST_EVENT, data={}, user=reader)[0] == 403
        for data, mid, field in (
                ({"Destination": "http://127.0.0.1:9/events"}, "PropertyValueFormatError", "Destination"),
                ({"Context": "x"}, "PropertyMissing", "Destination"),
                (dict(ok, Context="c" * 257), "StringValueTooLong", "Context"),
                (dict(ok, Colour="red"), "PropertyUnknown", "Colour"),
                (dict(ok, EventFormatType="MetricReport"), "PropertyValueNotInList", "EventFormatType"),
                (dict(ok, Protocol="SNMPv2c"), "PropertyValueNotInList", "Protocol"),
                (dict(ok, RegistryPrefixes=["Nope"]), "PropertyValueNotInList", "RegistryPrefixes")):
            status, _, body = a.curl(SUBS, data=data)
            assert status == 400 and message_id(body) == mid, (data, body)
            assert field in body["error"]["message"], body
            assert body["error"]["@Message.ExtendedInfo"][0]["RelatedProperties"] == [f"#/{field}"]
        subs = [subscribe(a, 9, Context=f"n{i}") for i in range(16)]
        status, _, body = a.curl(SUBS, data=ok)
        assert status == 400 and message_id(body) == "CreateLimitReachedForResource", body
        status, _, body = a.curl(subs[0], method="PATCH", data={"Destination": "https://x/"})
        assert status == 400 and "Destination" in body["error"]["message"]
        status, _, body = a.curl(subs[0], method="PATCH", data={"Context": "c" * 300})
        assert status == 400 and message_id(body) == "StringValueTooLong"
        status, _, body = a.curl("/redfish/v1/EventService", method="PATCH",
                                 data={"DeliveryRetryIntervalSeconds": 0})
        assert status == 400 and "DeliveryRetryIntervalSeconds" in body["error"]["message"]
        assert a.curl(subs[0], method="DELETE")[0] == 204
        assert a.curl(subs[0])[0] == 404
        assert len(a.get(SUBS)["Members"]) == 15
        assert a.stop() == 0, a.output()
    finally:
        a.stop()
        hv.stop()


def test_readme_subscription_recipes(pki, tmp_path):  # noqa: F811
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- subscription-recipes -->")[1].split("<!-- /subscription-recipes -->")[0]
    subscribe_block, list_block = re.findall(r"```sh\n(.*?)```", section, re.S)
    port = free_port()
    col = Collector(pki, tmp_path / "store", port)
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))
    shutil.copy(pki / "ca.pem", tmp_path / "collector-ca.pem")
    env = dict(os.environ, H=a.base, V=a.base + "/redfish/v1", PASS=PASSWORD,
               COLLECTOR=f"https://127.0.0.1:{port}")
    try:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", subscribe_block], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=scaled(60))
        assert p.returncode == 0 and p.stdout.strip() == SUBS + "/1", (p.stdout, p.stderr)
        wait_event(hv, col, "Vigil.1.0.TestEvent", "the recipe's test event")
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", list_block], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=scaled(60))
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert "rack 4: Vigil.1.0.TestEvent hello" in p.stdout.splitlines(), p.stdout
    finally:
        a.stop()
        hv.stop()
        col.stop()
