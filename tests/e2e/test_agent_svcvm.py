"""test_agent_svcvm.py: the same agent as the service VM's program (svcos + netstack, hv link over
the service channel), reached through the service VM's port forward.  (Records surviving
restarts: test_agent_hostile.py, natively; the NV store is the same.)"""
import base64
import hashlib
import subprocess
import types

import pytest

from agent import AGENT_ELF as ELF
from agent import curl_status as curl
from agent import free_port, service_vm_password, serving, start_service_vm
from sse import Stream, origin
from vigil import HVCTL, scaled



def test_agent_as_the_service_vm(tmp_path):
    if not ELF.exists():
        pytest.skip("build/mgmt-agent/agent.elf is not built (make all)")
    port = free_port()
    (tmp_path / "a").mkdir()
    hv = start_service_vm(tmp_path / "a", port)
    try:
        base = serving(hv, port)
        pw = service_vm_password(hv)
        auth = ["-u", f"admin:{pw}"]
        events = Stream(types.SimpleNamespace(port=port), user=("admin", pw))  # SSE, over the channel
        assert events.status == 200
        status, body = curl(base + "/redfish/v1/Systems", *auth)
        assert status == 200 and b"/redfish/v1/Systems/guest" in body
        status, _ = curl(base + "/redfish/v1/Systems/guest/Actions/Oem/Vigil.Switch", *auth, "-X", "POST",
                         "-H", "Content-Type: application/json", "-d", "{}")
        assert status == 204 and hv.status()["foreground"] == "guest"
        events.wait(lambda r: r["MessageId"] == "Vigil.1.0.ForegroundSwitched"
                    and origin(r) == "/redfish/v1/Systems/guest", 10, "the switch event")
        events.close()
        hv.snapshot("guest")
        snap = hv.wait_for(lambda: next((x for x in hv.ok("snapshot.list")["snapshots"]
                                         if len(x["sha256"]) == 64), None), 60, "the core's digest")
        hdr = tmp_path / "h"
        status, core = curl(f"{base}/redfish/v1/Managers/hv/LogServices/Dump/Entries/{snap['id']}/attachment",
                            *auth, "-D", str(hdr))
        assert status == 200 and len(core) == snap["core_bytes"]
        digest = base64.b64encode(hashlib.sha256(core).digest()).decode()
        assert f"sha-256=:{digest}:" in hdr.read_text()
        # The OEM side over the service channel: metrics, and a frozen guest's memory as hv has it.
        status, text = curl(base + "/metrics", *auth)
        assert status == 200 and b'vigil_switches_total{vm="guest"} 1' in text, text[-400:]
        hv.ok("switch", target="service")  # freezes the guest
        status, body = curl(base + "/redfish/v1/Systems/guest/Actions/Oem/Vigil.ReadMemory", *auth,
                            "-H", "Content-Type: application/json", "-H", "Accept: application/octet-stream",
                            "-d", '{"Address": "0x100000", "Length": 65536}')
        subprocess.run([str(HVCTL), "--socket", hv.sock_path, "peek", "guest", "0x100000", "65536",
                        "--out", str(tmp_path / "peek")], check=True, timeout=scaled(30))
        assert status == 200 and body == (tmp_path / "peek").read_bytes()
    finally:
        hv.stop()
