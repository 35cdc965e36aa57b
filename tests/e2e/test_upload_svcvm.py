"""test_upload_svcvm.py: crash reports from the agent as the service VM (build/mgmt-agent/agent.elf):
through hv's guestfwd to vigil-collector, and across a crash of the service VM itself with
reports queued: every report still arrives, each stored once."""
import json
import re
import subprocess
import time

import pytest

from agent import free_port
from test_upload import DEMO, Collector, pki  # noqa: F401 (pki: a fixture)
from vigil import ROOT, Hv, scaled

ELF = ROOT / "build" / "mgmt-agent" / "agent.elf"
SERVING = "mgmt-agent: serving https://"
UPLOAD = "/Managers/service/Oem/Vigil/CrashUpload"


class SvcAgent:
    """hv with the agent as its service VM: the collector (which may not be up) at
    collector.example:port through the guestfwd 10.0.2.100; the CA given over Redfish."""

    def __init__(self, pki, d, port, *hv_args):  # noqa: F811
        if not ELF.exists():
            pytest.skip("build/mgmt-agent/agent.elf is not built (make all)")
        self.web = free_port()
        (d / "hv").mkdir()
        self.hv = Hv(d / "hv", [
            *hv_args, "--service", str(ELF), "--mem", "128",
            "--net", f"user,hostfwd=tcp:127.0.0.1:{self.web}-:8443,"
                     f"guestfwd=tcp:10.0.2.100:{port}-127.0.0.1:{port}",
            "--cmdline", f"--boot-guest guest --upload-url https://collector.example:{port}/reports "
                         f"--upload-connect 10.0.2.100:{port} --upload-backoff 0.5,2",
            "--guest", DEMO, "--mem", "16"])
        self.hv.wait_console("service", SERVING, 60)
        pw = re.search(r'created account "admin" \(Administrator\) with password (\S+)',
                       self.hv.console("service")).group(1)
        self.base, self.auth = f"https://127.0.0.1:{self.web}/redfish/v1", ["-sk", "-u", f"admin:{pw}"]
        self.hv.wait_for(lambda: self.curl("/"), 30, "the agent answering")
        assert "CA" in (self.curl(UPLOAD)["Status"]["ConfigurationError"] or "")
        body = json.dumps({"CollectorCA": (pki / "ca.pem").read_text()})
        assert self.curl(UPLOAD, "-X", "PATCH", "-H", "Content-Type: application/json",
                         "-d", body)["Status"]["ConfigurationError"] is None

    def curl(self, path, *args):
        p = subprocess.run(["curl", *self.auth, "--max-time", str(int(scaled(30))), *args, self.base + path],
                           capture_output=True, timeout=scaled(60))
        try:
            return json.loads(p.stdout or b"null")
        except ValueError:
            return None

    def upload_of(self, sid):
        entry = self.curl(f"/Managers/hv/LogServices/Dump/Entries/{sid}") or {}
        return entry.get("Oem", {}).get("Vigil", {}).get("Upload") or {}

    def wait_state(self, sid, ok, what, timeout=30):
        return self.hv.wait_for(lambda: (lambda u: u if ok(u) else None)(self.upload_of(sid)), timeout, what)


def test_the_service_vm_uploads_through_the_guestfwd(pki, tmp_path):  # noqa: F811
    """hv relays 10.0.2.100 to the collector; the CA comes over Redfish (there are no files in
    the service VM)."""
    port = free_port()
    col = Collector(pki, tmp_path / "store", port, cert="wrong-name")  # DNS:collector.example
    s = SvcAgent(pki, tmp_path, port)
    hv = s.hv
    try:
        sid = hv.snapshot("guest")["snapshot"]["id"]
        try:
            hv.wait_for(lambda: len(col.reports()) == 1, 60, "the report from the service VM")
        except AssertionError as e:
            raise AssertionError(f"{e}\nthe service VM's console:\n{hv.console('service')}") from None
        rep = col.reports()[0]
        assert rep["snapshot"] == sid
        assert rep["sha256"] == hv.ok("snapshot.show", id=sid)["snapshot"]["sha256"]
        up = s.wait_state(sid, lambda u: u.get("State") == "Acknowledged", "the receipt in the Dump entry", 20)
        assert up["Receipt"] == rep["receipt"]
    finally:
        hv.stop()
        col.stop()


def test_a_service_vm_crash_with_reports_queued_loses_and_repeats_nothing(pki, tmp_path):  # noqa: F811
    """The collector is down; two reports are queued (and retried); the service VM crashes (an
    NMI: hv's containment restarts it, writing a core of it) and a third crash comes while it
    is down. With the collector up, every report arrives and each is stored once."""
    port = free_port()  # nobody listens yet
    s = SvcAgent(pki, tmp_path, port, "--snapshot-pin-new", "--snapshot-keep", "1")
    hv, col = s.hv, None
    try:
        sids = [hv.snapshot("guest")["snapshot"]["id"] for _ in range(2)]
        for sid in sids:
            up = s.wait_state(sid, lambda u: u.get("Attempts", 0) >= 2, "failed attempts", 60)
            assert up["State"] in ("Queued", "Sending"), up
        hv.ok("nmi", vm="service")
        hv.wait_for(lambda: hv.status()["service_restarts"] == 1, 60, "hv restarting the service VM")
        sids.append(hv.snapshot("guest")["snapshot"]["id"])  # while the agent starts again
        hv.wait_for(lambda: hv.console("service").count(SERVING) >= 2, 60, "the agent serving again")
        # hv wrote a core of the service VM's crash too: a report like the others.
        every = [x["id"] for x in hv.ok("snapshot.list")["snapshots"]]
        assert set(sids) < set(every), (sids, every)  # keep 1, yet all held: pinned
        assert any(x["vm"] == "service" for x in hv.ok("snapshot.list")["snapshots"])
        col = Collector(pki, tmp_path / "store", port, cert="wrong-name")
        try:
            hv.wait_for(lambda: len(col.reports()) == len(every), 90, "every report after the restart")
        except AssertionError as e:
            raise AssertionError(f"{e}\nthe service VM's console:\n{hv.console('service')}") from None
        time.sleep(1)
        assert sorted(r["snapshot"] for r in col.reports()) == sorted(every)
        st = col.stats()
        assert st["stored"] == len(every) and st["repeats"] == 0, st
        # Each receipt is in the SEL (the Dump entries go with retention once acknowledged).
        receipts = {r["snapshot"]: r["receipt"] for r in col.reports()}
        hv.wait_for(lambda: all(any(f"snapshot {sid} uploaded: receipt {receipts[sid]}" in e["Message"]
                                    for e in hv.ok("sel", max=1000)["entries"]) for sid in every),
                    20, "the receipts in the SEL")
        hv.wait_for(lambda: len(hv.ok("snapshot.list")["snapshots"]) == 1, 20, "retention")
    finally:
        hv.stop()
        if col:
            col.stop()
