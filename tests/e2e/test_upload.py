"""test_upload.py: crash reports upload themselves: the native agent's uploader against hv and
vigil-collector (a test CA, short backoff): digests, receipts, retries, restarts, bounds."""
import hashlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest

from agent import Agent, free_port
from vigil import ROOT, Hv, guest, scaled

COLLECTOR = ROOT / "tools" / "vigil-collector"
DEMO = guest("demo.elf")
UPLOAD = "/redfish/v1/Managers/service/Oem/Vigil/CrashUpload"
DUMP = "/redfish/v1/Managers/hv/LogServices/Dump/Entries"
SEL = "/redfish/v1/Managers/hv/LogServices/SEL/Entries?$top=1000"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the collector's certificate for 127.0.0.1, one for another name, and a stranger CA."""
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", d / f"{ca}.key", "-out", d / f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca}")
    for name, ca, san in (("good", "ca", "IP:127.0.0.1,DNS:localhost"),
                          ("wrong-name", "ca", "DNS:collector.example"),
                          ("stranger", "other-ca", "IP:127.0.0.1")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                d / f"{name}.key", "-out", d / f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / f"{ca}.pem", "-CAkey",
                d / f"{ca}.key", "-CAcreateserial", "-out", d / f"{name}.pem", "-days", "2",
                "-extfile", d / f"{name}.ext")
    return d


class Collector:
    def __init__(self, pki, store, port, cert="good", plan="", client_ca=None):
        self.port, self.pki = port, pki
        self.log = open(store.parent / f"collector-{port}-{time.monotonic_ns()}.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(COLLECTOR), "--listen", f"127.0.0.1:{port}", "--cert",
             str(pki / f"{cert}.pem"), "--key", str(pki / f"{cert}.key"), "--store", str(store),
             "--admin", "--fail-plan", plan, "--quiet",
             *(["--client-ca", str(pki / f"{client_ca}.pem")] if client_ca else [])],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + scaled(10)
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None and time.time() < deadline, "the collector did not start"
                time.sleep(0.05)
        self.tls = ssl.create_default_context()
        self.tls.check_hostname = False  # the test's own questions: the agent's checks are under test
        self.tls.verify_mode = ssl.CERT_NONE
        if client_ca:  # the test's own questions need a client certificate too
            self.tls.load_cert_chain(str(pki / "good.pem"), str(pki / "good.key"))

    def get(self, path):
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}{path}", context=self.tls,
                                    timeout=scaled(10)) as r:
            return json.load(r)

    def reports(self):
        return self.get("/reports")["reports"]

    def stats(self):
        return self.get("/stats")

    def stop(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def upload_args(pki, port, *more, host="127.0.0.1"):
    return ["--upload-url", f"https://{host}:{port}/reports", "--upload-ca", str(pki / "ca.pem"),
            "--upload-backoff", "0.2,1", "--upload-timeout", "5", *more]


def start_hv(d, *extra, state=None):
    (d / "hv").mkdir(exist_ok=True)
    return Hv(d / "hv", ["--service", guest("service-stub.elf"), "--guest", DEMO, "--mem", "16",
                         "--autostart-guest", *extra])


def uploaded(hv, a, sid):
    """The Dump entry's Oem.Vigil.Upload for snapshot sid (None while it has none)."""
    status, _, body = a.curl(f"{DUMP}/{sid}")
    return body["Oem"]["Vigil"].get("Upload") if status == 200 else None


def wait_upload(hv, a, sid, ok, timeout, what):
    """Waits until the Dump entry of sid has an Oem.Vigil.Upload for which ok(upload) holds."""
    return hv.wait_for(lambda: (lambda u: u if u and ok(u) else None)(uploaded(hv, a, sid)), timeout, what)


def sel_messages(a):
    return [m["Message"] for m in a.get(SEL)["Members"]]


def take(hv):
    # --autostart-guest starts the guest after the service VM: until then there is nothing to
    # capture (EBUSY), which a loaded machine showed.
    hv.wait_for(lambda: hv.vm("guest")["state"] != "created", what="the guest started")
    return hv.snapshot("guest")["snapshot"]["id"]


def test_a_crash_reaches_the_collector_with_its_digest_and_receipt(pki, tmp_path):
    port = free_port()
    col = Collector(pki, tmp_path / "store", port)
    hv = start_hv(tmp_path)
    # By name: the certificate is checked for "localhost" (SSL_set1_host), not only its CA.
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port, host="localhost"))
    try:
        hv.wait_console("guest", "demo>")
        hv.type("guest", "crash ud2\n")
        hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], what="the crash snapshot")
        snap = hv.ok("snapshot.list")["snapshots"][0]
        rep = hv.wait_for(col.reports, 30, "the report at the collector")
        assert len(rep) == 1
        meta = col.get(f"/reports/{rep[0]['uuid']}")["metadata"]
        digest = hv.ok("snapshot.show", id=snap["id"])["snapshot"]["sha256"]
        stored = (tmp_path / "store" / rep[0]["uuid"] / "core").read_bytes()
        assert hashlib.sha256(stored).hexdigest() == digest == meta["sha256"] == rep[0]["sha256"]
        assert len(stored) == snap["core_bytes"]
        # The core is sparse: hv tells the uploader of holes instead of sending their zeros.
        hole = hv.ok("snapshot.read", id=snap["id"], offset=8 << 20, len=1 << 20, holes=True)
        assert hole["hole"] == 1 << 20 and hole["len"] == 0, hole
        assert meta["snapshot"] == snap["id"] and meta["vm"] == "guest"
        assert meta["trigger"] == snap["trigger"] and meta["registers"]["rip"] == snap["registers"]["rip"]
        assert meta["fault"]["name"] == "#UD" and meta["hv_version"]
        assert any("crash: invalid opcode" in line for line in meta["console"]), meta["console"]
        assert any(e["Id"] == str(snap["sel_id"]) for e in meta["sel"]), meta["sel"]
        receipt = rep[0]["receipt"]
        up = wait_upload(hv, a, snap["id"], lambda u: u["State"] == "Acknowledged", 10,
                         "the receipt in the Dump entry")
        assert up["Receipt"] == receipt and up["ReportId"] == rep[0]["uuid"] and up["Attempts"] == 1
        assert any(receipt in m and snap["id"] in m for m in sel_messages(a))
        assert not hv.ok("snapshot.show", id=snap["id"])["snapshot"].get("pinned")  # let go
        assert col.stats()["posts"] == 1
        assert a.stop() == 0, a.output()  # a clean exit: no sanitizer report
    finally:
        a.stop()
        hv.stop()
        col.stop()


def test_500_and_429_are_retried_with_retry_after_and_400_is_final(pki, tmp_path):
    port = free_port()
    col = Collector(pki, tmp_path / "store", port, plan="500,429:2")
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))
    try:
        sid = take(hv)
        hv.wait_for(lambda: len(col.reports()) == 1, 30, "the report after 500 and 429")
        answers = col.stats()["answers"]
        assert [x["status"] for x in answers] == [500, 429, 201]
        assert answers[2]["time"] - answers[1]["time"] >= 2.0  # Retry-After beats the 0.2 s backoff
        up = uploaded(hv, a, sid)
        assert up["State"] == "Acknowledged" and up["Attempts"] == 3
        # A permanent refusal: recorded, not retried.
        urllib.request.urlopen(urllib.request.Request(
            f"https://127.0.0.1:{port}/admin/fail-plan", data=b"400", method="POST"),
            context=col.tls, timeout=10).read()
        sid2 = take(hv)
        up = wait_upload(hv, a, sid2, lambda u: u["State"] == "Rejected", 30,
                         "the rejection in the Dump entry")
        assert "400" in up["LastError"] and up["Receipt"] is None
        time.sleep(1.0)  # several backoff periods (0.2 .. 1 s)
        assert col.stats()["posts"] == 4 and len(col.reports()) == 1
        assert any("refused by the collector (400)" in m for m in sel_messages(a))
        assert a.stop() == 0, a.output()
    finally:
        a.stop()
        hv.stop()
        col.stop()


def test_collector_down_then_up_and_agent_killed_each_report_once(pki, tmp_path):
    port = free_port()  # nobody listens yet
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))
    col = None
    try:
        sids = [take(hv), take(hv)]
        hv.wait_for(lambda: all((uploaded(hv, a, s) or {}).get("Attempts", 0) >= 3 for s in sids),
                    30, "several failed attempts each")
        up = uploaded(hv, a, sids[0])
        assert up["State"] in ("Queued", "Sending") and "connect" in up["LastError"], up
        for s in sids:  # held against retention while queued
            assert hv.ok("snapshot.show", id=s)["snapshot"]["pinned"] is True
        status, _, metrics = a.curl("/metrics")
        assert status == 200 and b"\nvigil_upload_queue_length 2\n" in metrics, metrics
        a.stop(signal.SIGKILL)
        sids.append(take(hv))  # a crash while the agent is down
        col = Collector(pki, tmp_path / "store", port)
        a = Agent(hv, tmp_path / "agent2", args=upload_args(pki, port))
        hv.wait_for(lambda: len(col.reports()) == 3, 30, "every report")
        time.sleep(1)
        assert sorted(r["snapshot"] for r in col.reports()) == sorted(sids)
        st = col.stats()
        assert st["stored"] == 3 and st["repeats"] == 0
        for s in sids:
            assert uploaded(hv, a, s)["State"] == "Acknowledged"
        assert a.stop() == 0, a.output()
    finally:
        a.stop()
        hv.stop()
        if col:
            col.stop()


def test_hv_killed_with_reports_queued_and_retention_held_off(pki, tmp_path):
    port = free_port()
    hv = start_hv(tmp_path, "--snapshot-keep", "1")
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))
    col = None
    try:
        sids = []
        for _ in range(3):  # each queued (and pinned) before the next: retention would win a race
            sids.append(take(hv))
            wait_upload(hv, a, sids[-1], lambda u: True, 10, "the report queued")
        ids = [s["id"] for s in hv.ok("snapshot.list")["snapshots"]]
        assert all(s in ids for s in sids), ids  # pinned: --snapshot-keep 1 deleted none
        hv.proc.send_signal(signal.SIGKILL)
        hv.proc.wait()
        a.stop(signal.SIGKILL)
        hv.conn.close()
        hv.log.close()
        hv = start_hv(tmp_path, "--snapshot-keep", "1")  # the same state directory
        col = Collector(pki, tmp_path / "store", port)
        a = Agent(hv, tmp_path / "agent2", args=upload_args(pki, port))
        hv.wait_for(lambda: len(col.reports()) == 3, 30, "every report after hv's restart")
        time.sleep(1)
        assert sorted(r["snapshot"] for r in col.reports()) == sorted(sids)
        assert col.stats()["stored"] == 3
        # Acknowledged: unpinned, and retention does its work again.
        hv.wait_for(lambda: len(hv.ok("snapshot.list")["snapshots"]) == 1, 10, "retention")
    finally:
        a.stop()
        hv.stop()
        if col:
            col.stop()


def test_hv_pins_new_snapshots_until_the_agent_has_queued_them(pki, tmp_path):
    """--snapshot-pin-new: retention cannot delete a crash before the uploader has seen it,
    here two snapshots under --snapshot-keep 1 while no agent runs at all."""
    port = free_port()
    hv = start_hv(tmp_path, "--snapshot-keep", "1", "--snapshot-pin-new")
    col = a = None
    try:
        sids = [take(hv), take(hv)]
        snaps = hv.ok("snapshot.list")["snapshots"]
        assert [s["id"] for s in snaps] == sids and all(s.get("pinned") for s in snaps), snaps
        col = Collector(pki, tmp_path / "store", port)
        a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))
        hv.wait_for(lambda: len(col.reports()) == 2, 30, "both reports")
        assert sorted(r["snapshot"] for r in col.reports()) == sids
        # Acknowledged, unpinned: retention keeps one again.
        hv.wait_for(lambda: len(hv.ok("snapshot.list")["snapshots"]) == 1, 10, "retention")
        assert not hv.ok("snapshot.list")["snapshots"][0].get("pinned")
        assert a.stop() == 0, a.output()
    finally:
        if a:
            a.stop()
        hv.stop()
        if col:
            col.stop()


@pytest.mark.parametrize("cert,host,why", [
    ("wrong-name", "localhost", "hostname mismatch"),  # our CA's, for another name
    ("stranger", "127.0.0.1", "unable to get local issuer certificate")])  # another CA's
def test_a_collector_with_the_wrong_certificate_is_refused(pki, tmp_path, cert, host, why):
    port = free_port()
    col = Collector(pki, tmp_path / "store", port, cert=cert)
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port, host=host))
    try:
        sid = take(hv)
        # A slow machine (ASan in the nested one) can time a first attempt out before the
        # handshake: that is retried, so wait for the refusal itself.
        up = wait_upload(hv, a, sid, lambda u: "certificate is refused" in (u["LastError"] or ""),
                         60, "the refusal in the Dump entry")
        assert "certificate is refused" in up["LastError"] and why in up["LastError"], up
        assert up["State"] in ("Queued", "Sending")
        assert col.stats()["posts"] == 0 and col.reports() == []
        assert a.stop() == 0, a.output()
    finally:
        a.stop()
        hv.stop()
        col.stop()


def test_connect_to_reaches_a_named_collector_through_another_address(pki, tmp_path):
    """What the service VM does through hv's guestfwd: connect to a local address, check the
    certificate against the URL's name."""
    port = free_port()
    col = Collector(pki, tmp_path / "store", port, cert="wrong-name")  # DNS:collector.example
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(
        pki, port, "--upload-connect", f"127.0.0.1:{port}", host="collector.example"))
    try:
        sid = take(hv)
        hv.wait_for(lambda: len(col.reports()) == 1, 20, "the report")
        assert col.reports()[0]["snapshot"] == sid
    finally:
        a.stop()
        hv.stop()
        col.stop()


def test_mutual_tls_with_a_client_certificate(pki, tmp_path):
    port = free_port()
    col = Collector(pki, tmp_path / "store", port, client_ca="ca")
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port))  # no client certificate yet
    try:
        sid = take(hv)
        up = wait_upload(hv, a, sid, lambda u: u["LastError"], 20,
                         "the refused handshake in the Dump entry")
        assert up["State"] in ("Queued", "Sending") and col.reports() == []
        body = {"ClientCertificate": (pki / "good.pem").read_text(), "ClientKey": (pki / "good.key").read_text()}
        status, _, body = a.curl(UPLOAD, method="PATCH", data=body)
        assert status == 200 and body["ClientKey"] is None and body["ClientKeySet"] is True
        hv.wait_for(lambda: len(col.reports()) == 1, 20, "the report over mTLS")
        assert col.reports()[0]["snapshot"] == sid
    finally:
        a.stop()
        hv.stop()
        col.stop()


def test_outbox_full_drops_the_oldest_and_says_so(pki, tmp_path):
    port = free_port()
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, port, "--upload-max-reports", "2"))
    col = None
    try:
        sids = []
        for _ in range(3):
            sids.append(take(hv))
            wait_upload(hv, a, sids[-1], lambda u: True, 10, "the report queued")
        assert uploaded(hv, a, sids[0])["State"] == "Dropped"
        assert "outbox" in uploaded(hv, a, sids[0])["LastError"]
        assert any(sids[0] in m and "outbox full" in m for m in sel_messages(a))
        assert not hv.ok("snapshot.show", id=sids[0])["snapshot"].get("pinned")
        col = Collector(pki, tmp_path / "store", port)
        hv.wait_for(lambda: len(col.reports()) == 2, 30, "the two kept reports")
        assert sorted(r["snapshot"] for r in col.reports()) == sorted(sids[1:])
    finally:
        a.stop()
        hv.stop()
        if col:
            col.stop()


def test_settings_over_redfish_are_for_administrators_and_hide_the_key(pki, tmp_path):
    hv = start_hv(tmp_path)
    a = Agent(hv, tmp_path / "agent", args=upload_args(pki, 9, "--upload-cert", str(pki / "good.pem"),
                                                        "--upload-key", str(pki / "good.key")))
    try:
        s = a.get(UPLOAD)
        assert s["CollectorURL"] == "https://127.0.0.1:9/reports" and s["Enabled"] is True
        assert s["ClientKey"] is None and s["ClientKeySet"] is True
        assert "BEGIN CERTIFICATE" in s["CollectorCA"] and s["BackoffBaseSeconds"] == 0.2
        status, _, _ = a.curl("/redfish/v1/AccountService/Accounts", method="POST",
                              data={"UserName": "olivia", "Password": "operator-pass-1", "RoleId": "Operator"})
        assert status == 201
        status, _, _ = a.curl(UPLOAD, user=("olivia", "operator-pass-1"))
        assert status == 403
        status, _, body = a.curl(UPLOAD, method="PATCH", data={"CollectorURL": "http://x"})
        assert status == 400, body
        status, _, body = a.curl(UPLOAD, method="PATCH", data={"Enabled": False, "MaxReports": 4,
                                                               "ConnectTo": "127.0.0.1:10"})
        assert status == 200 and body["Enabled"] is False and body["MaxReports"] == 4
        status, _, body = a.curl(UPLOAD, method="PATCH", data={"Colour": "red"})
        assert status == 400 and "Colour" in body["error"]["message"]
        a.stop()
        a = Agent(hv, tmp_path / "agent2", args=upload_args(pki, 9))  # the stored settings win
        s = a.get(UPLOAD)
        assert s["Enabled"] is False and s["MaxReports"] == 4 and s["ClientKeySet"] is True
        assert s["ConnectTo"] == "127.0.0.1:10" and s["BackoffCapSeconds"] == 1
    finally:
        a.stop()
        hv.stop()
