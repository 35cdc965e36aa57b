"""test_agent_clients.py: the README's curl recipes, run as written, and redfishtool, against the
native agent on a real hv."""
import hashlib
import json
import re
import subprocess

import pytest

from agent import PASSWORD, agent_on_hv
from recipes import readme_blocks, run_recipe
from vigil import scaled


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("agent")
    with agent_on_hv(d) as (hv, agent):
        yield hv, agent, d


def test_readme_recipes(setup):
    hv, a, d = setup
    blocks = readme_blocks("redfish-recipes")
    assert len(blocks) == 6
    login, basic, switch, snapshot, download, sensors_sel = blocks
    out = run_recipe(a, d, login)
    assert "/redfish/v1/Systems/guest" in out and "/redfish/v1/Systems/service" in out
    assert hv_sessions(a) == 0  # logged out again
    state = json.loads(run_recipe(a, d, basic))
    assert state["PowerState"] in ("On", "Off") and state["Vigil"]["Role"] == "guest"
    out = run_recipe(a, d, switch)
    assert "Paused" in out
    assert "ForceRestart: On" in out and "ForceOff: Off" in out and "\nOn: On" in out
    # Booted, rebooted, powered on: the last banner may still be on its way when the recipe ends.
    hv.wait_for(lambda: hv.console("guest").count("Vigil demo guest:") >= 3, 10, "the third boot")
    assert hv.status()["foreground"] == "guest" and hv.vm("guest")["state"] == "running"
    out = run_recipe(a, d, snapshot)
    assert re.search(r"\S+ guest \d+ bytes", out), out
    out = run_recipe(a, d, download)
    assert "guest.core verified" in out
    core = d / "guest.core"
    whole = core.read_bytes()
    snap = hv.ok("snapshot.list")["snapshots"][-1]
    assert hashlib.sha256(whole).hexdigest() == snap["sha256"]
    # An interrupted download: the same command resumes with a Range request.
    with open(core, "r+b") as f:
        f.truncate(len(whole) // 3)
    out = run_recipe(a, d, download)
    assert "guest.core verified" in out and core.read_bytes() == whole
    assert re.search(r"(?im)^content-range: bytes %d-" % (len(whole) // 3), (d / "core.h").read_text())
    out = run_recipe(a, d, sensors_sel)
    assert "Cel" in out and "CPU Temp" in out
    sel_ids = [int(line.split()[0]) for line in out.splitlines() if re.match(r"^\d+ \d{4}-", line)]
    assert sel_ids == sorted(sel_ids) and len(sel_ids) == len(set(sel_ids)) >= 5


def hv_sessions(agent):
    return agent.get("/redfish/v1/SessionService/Sessions")["Members@odata.count"]


def redfishtool(agent, *args, auth=("-u", "admin", "-p", PASSWORD)):
    p = subprocess.run(["redfishtool", "-r", f"127.0.0.1:{agent.port}", *auth, "-S", "Always", *args],
                       capture_output=True, text=True, timeout=scaled(60))
    return p.returncode, p.stdout, p.stderr


def test_redfishtool_systems_chassis_reset_and_sessions(setup):
    hv, a, _ = setup
    rc, out, err = redfishtool(a, "Systems")
    assert rc == 0, err
    assert {m["@odata.id"] for m in json.loads(out)["Members"]} == {
        "/redfish/v1/Systems/guest", "/redfish/v1/Systems/service"}
    rc, out, err = redfishtool(a, "Chassis", "-1", "Thermal")
    assert rc == 0 and json.loads(out)["Temperatures"], err
    # Reset Nmi injects an NMI: the guest's own handler reports it, the policy stops it.
    if hv.status()["foreground"] != "guest":
        hv.ok("switch", target="guest")
    hv.wait_for(lambda: hv.vm("guest")["state"] == "running", 10, "the guest running")
    rc, out, err = redfishtool(a, "Systems", "-I", "guest", "reset", "Nmi")
    assert rc == 0, err
    hv.wait_for(lambda: hv.vm("guest")["state"] == "crashed", 10, "the NMI reported by the guest")
    # A request on a session of its own; a session kept open (login), visible in the collection.
    before = hv_sessions(a)
    rc, out, err = redfishtool(a, "-A", "Session", "Systems", "-I", "service", "get")
    assert rc == 0 and json.loads(out)["Id"] == "service", err
    rc, out, err = redfishtool(a, "SessionService", "login")
    assert rc == 0, err
    login = json.loads(out)
    assert login["SessionLocation"].startswith("/redfish/v1/SessionService/Sessions/")
    assert hv_sessions(a) >= before + 1
