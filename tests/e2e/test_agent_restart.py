"""test_agent_restart.py: the agent as the service VM, killed by hv mid-download (an NMI it
reports as a crash, so hv's containment restarts it): the client sees a clean failure, hv
restarts the service VM, the agent serves again with the same accounts, certificate and UUID
(the NV store), and the guest ran on undisturbed.  Then the service System's own ForceRestart."""
import json
import re
import ssl
import subprocess
import time

import pytest

from agent import free_port
from vigil import ROOT, Hv, guest, scaled

ELF = ROOT / "build" / "mgmt-agent" / "agent.elf"
SERVING = "mgmt-agent: serving https://"


def curl(url, *args):
    p = subprocess.run(["curl", "-sk", "--max-time", str(int(scaled(30))), "-w", "\n%{http_code}",
                        *args, url], capture_output=True, timeout=scaled(60))
    body, _, status = p.stdout.rpartition(b"\n")
    return int(status or 0), body


def cert_der(port):
    return ssl.get_server_certificate(("127.0.0.1", port), timeout=scaled(10))


def test_service_vm_killed_mid_download(tmp_path):
    if not ELF.exists():
        pytest.skip("build/mgmt-agent/agent.elf is not built (make all)")
    port = free_port()
    hv = Hv(tmp_path, ["--service", str(ELF), "--mem", "128",
                       "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8443",
                       "--guest", guest("demo.elf"), "--mem", "64", "--cmdline", "heartbeat_ms=10"])
    try:
        hv.wait_console("service", SERVING, scaled(60))
        base = f"https://127.0.0.1:{port}"
        hv.wait_for(lambda: curl(base + "/redfish/v1/")[0] == 200, scaled(30), "the agent answering")
        pw = re.search(r'created account "admin" \(Administrator\) with password (\S+)',
                       hv.console("service")).group(1)
        admin = ["-u", f"admin:{pw}"]
        json_hdr = ["-H", "Content-Type: application/json"]
        status, body = curl(base + "/redfish/v1/AccountService/Accounts", *admin, *json_hdr,
                            "-X", "POST", "-d", json.dumps({"UserName": "ops", "Password": "ops-pass-123",
                                                            "RoleId": "Operator"}))
        assert status == 201, body
        uuid = json.loads(curl(base + "/redfish/v1/")[1])["UUID"]
        cert = cert_der(port)

        # A large crash core to download: the guest's RAM filled with a pattern.
        hv.ok("switch", target="guest")
        hv.wait_console("guest", "demo> ", scaled(10))
        hv.type("guest", "fill 48\n")
        hv.wait_console("guest", "fill: ", scaled(30))
        snap = hv.snapshot("guest")["snapshot"]
        hv.wait_for(lambda: len(hv.ok("snapshot.show", id=snap["id"])["snapshot"]["sha256"]) == 64,
                    scaled(30), "the core's digest")  # the download's Repr-Digest needs it
        assert snap["core_bytes"] > 48 << 20
        beats = hv.vm("guest")["heartbeats"]

        # The download, slowed so that it is surely under way when the service VM dies.
        out = tmp_path / "core"
        url = f"{base}/redfish/v1/Managers/hv/LogServices/Dump/Entries/{snap['id']}/attachment"
        dl = subprocess.Popen(["curl", "-sk", *admin, "--limit-rate", "4M", "-o", str(out), url],
                              stderr=subprocess.PIPE)
        hv.wait_for(lambda: out.exists() and out.stat().st_size > 1 << 20, scaled(30), "the download under way")
        assert dl.poll() is None
        t0 = time.monotonic()
        hv.ok("nmi", vm="service")
        # A clean failure, not a hang: the connection is reset or closed well before the
        # rate-limited download could have finished.
        try:
            rc = dl.wait(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            dl.kill()
            dl.wait()
            raise AssertionError("the client hung: " + "\n".join(l for l in hv.output().splitlines() if "heartbeat" not in l and "demo>" not in l))
        failed_after = time.monotonic() - t0
        assert rc != 0 and out.stat().st_size < snap["core_bytes"], (rc, out.stat().st_size)
        assert failed_after < scaled(30), failed_after

        hv.wait_for(lambda: hv.status()["service_restarts"] == 1, scaled(60), "hv restarting the service VM")
        sel = [e["Message"] for e in hv.ok("sel", max=1000)["entries"]]
        assert any("service VM restarted" in m for m in sel), sel
        hv.wait_for(lambda: hv.console("service").count(SERVING) >= 2, scaled(60), "the agent serving again")
        hv.wait_for(lambda: curl(base + "/redfish/v1/")[0] == 200, scaled(30), "the agent answering again")
        # Same accounts (no new admin password printed), certificate and UUID.
        assert hv.console("service").count('created account "admin"') == 1
        assert curl(base + "/redfish/v1/Systems", *admin)[0] == 200
        assert curl(base + "/redfish/v1/Systems", "-u", "ops:ops-pass-123")[0] == 200
        assert cert_der(port) == cert
        assert json.loads(curl(base + "/redfish/v1/")[1])["UUID"] == uuid
        # The guest ran on, in the foreground, heartbeating.
        g = hv.vm("guest")
        assert g["state"] == "running" and hv.status()["foreground"] == "guest"
        hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 5, scaled(10), "guest heartbeats")
        # And the download works again, whole.
        status, core = curl(url, *admin)
        assert status == 200 and len(core) == snap["core_bytes"]
        # The service System's own ForceRestart, asked of the agent inside it: the 204 reaches
        # the client first, then hv restarts the service VM by the same path.
        status, _ = curl(base + "/redfish/v1/Systems/service/Actions/ComputerSystem.Reset", *admin,
                         *json_hdr, "-X", "POST", "-d", '{"ResetType": "ForceRestart"}')
        assert status == 204
        hv.wait_for(lambda: hv.status()["service_restarts"] == 2, scaled(30), "the second restart")
        hv.wait_for(lambda: hv.console("service").count(SERVING) >= 3, scaled(60), "the agent once more")
        hv.wait_for(lambda: curl(base + "/redfish/v1/Systems", *admin)[0] == 200, scaled(30),
                    "the agent answering after its ForceRestart")
        assert hv.vm("guest")["state"] == "running"
    finally:
        hv.stop()
