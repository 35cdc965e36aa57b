"""test_agent_oem.py: the native mgmt-agent's Prometheus /metrics, the OEM trap-policy resource and
reading a stopped guest's memory and registers, against a real hv: promtool on the live output,
counters that move with switches and traps, ETag/If-Match, refusals naming the field, the bytes
compared with hvctl peek, the role matrix, and the README's recipes for them."""
import base64
import re
import shutil
import subprocess

import pytest

from agent import PASSWORD, agent_on_hv, message_id
from recipes import readme_blocks, run_recipe
from vigil import HVCTL, scaled

POLICY = "/redfish/v1/Managers/hv/Oem/Vigil/Policy"
SYS = "/redfish/v1/Systems/guest"
READ = SYS + "/Actions/Oem/Vigil.ReadMemory"
REGS = SYS + "/Oem/Vigil/Registers"
RO, OP = ("rita", "rita-pass-123"), ("olivia", "olivia-pass-123")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("agent")
    with agent_on_hv(d) as (hv, agent):
        for (user, pw), role in ((RO, "ReadOnly"), (OP, "Operator")):
            agent.add_account(user, pw, role)
        hv.ok("switch", target="guest")
        hv.wait_console("guest", "demo>")
        yield hv, agent, d


def hvctl(hv, *args):
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, *args], capture_output=True,
                       timeout=scaled(60))
    assert p.returncode == 0, p.stderr
    return p.stdout


def samples(text):
    """{'name{labels}': value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def scrape(a, user=RO):
    status, hd, body = a.curl("/metrics", user=user)
    assert status == 200, body
    assert hd["content-type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def test_metrics_pass_promtool_and_move_with_switches_and_traps(setup):
    hv, a, _ = setup
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian package prometheus, scripts/deps.sh) is not installed")
    text = scrape(a)
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=scaled(30))
    assert p.returncode == 0, (p.stdout, p.stderr, text)
    for family in ("node_hwmon_temp_celsius", "node_hwmon_in_volts", "node_hwmon_fan_rpm",
                   "node_hwmon_temp_max_celsius", "node_hwmon_temp_crit_celsius",
                   "node_hwmon_in_min_volts", "node_hwmon_chip_names", "vigil_switches_total",
                   "vigil_traps_total", "vigil_snapshots_total", "vigil_sel_entries_total",
                   "vigil_watchdog_firings_total", "vigil_vm_state"):
        assert f"# TYPE {family} " in text and f"# HELP {family} " in text, family
    for m in re.finditer(r"^# TYPE (\S+) counter$", text, re.M):
        assert m.group(1).endswith("_total"), m.group(1)
    before = samples(text)
    assert before['vigil_vm_state{vm="guest",state="running"}'] == 1
    # A switch away freezes the guest; the operator trap (by default: freeze, snapshot, switch)
    # needs it running again.
    hv.ok("switch", target="service")
    hv.ok("switch", target="guest")
    hv.ok("trap", vm="guest")
    hv.wait_for(lambda: samples(scrape(a))["vigil_snapshots_total"] > before["vigil_snapshots_total"],
                30, "the trap's snapshot")
    after = samples(scrape(a))
    assert after['vigil_switches_total{vm="guest"}'] == before['vigil_switches_total{vm="guest"}'] + 1
    assert after['vigil_switches_total{vm="service"}'] >= before['vigil_switches_total{vm="service"}'] + 2
    assert after['vigil_traps_total{event="operator"}'] == before['vigil_traps_total{event="operator"}'] + 1
    assert after["vigil_sel_entries_total"] > before["vigil_sel_entries_total"]
    assert after['vigil_vm_state{vm="guest",state="frozen"}'] == 1
    assert after['vigil_vm_state{vm="guest",state="running"}'] == 0
    hv.ok("switch", target="guest")


def test_metrics_need_credentials(setup):
    _, a, _ = setup
    status, hd, body = a.curl("/metrics", user=None)
    assert status == 401 and "basic" in hd["www-authenticate"].lower()
    assert message_id(body) == "NoValidSession"
    assert a.curl("/metrics", user=("rita", "wrong-password"))[0] == 401
    status, hd, _ = a.curl("/metrics", method="POST", data={})
    assert status == 405 and hd["allow"] == "GET, HEAD"
    assert a.curl("/metrics", user=OP)[0] == 200


def etag(a, user=("admin", PASSWORD)):
    status, hd, body = a.curl(POLICY, user=user)
    assert status == 200 and re.fullmatch(r'"[0-9a-f]{20}"', hd["etag"]), (status, hd)
    return hd["etag"], body


def patch(a, data, tag, user=("admin", PASSWORD)):
    headers = [f"If-Match: {tag}"] if tag else []
    return a.curl(POLICY, method="PATCH", data=data, headers=headers, user=user)


def test_policy_is_linked_and_patched_with_if_match(setup):
    hv, a, _ = setup
    assert a.get("/redfish/v1/Managers/hv")["Oem"]["Vigil"]["Policy"]["@odata.id"] == POLICY
    tag, body = etag(a)
    assert body["Events"] == hv.ok("policy.get")["policy"]["events"]
    status, _, err = patch(a, {"WatchdogMs": 0}, None)
    assert status == 428 and message_id(err) == "PreconditionRequired"
    status, _, err = patch(a, {"WatchdogMs": 0}, '"0123456789abcdef0123"')
    assert status == 412 and message_id(err) == "PreconditionFailed"
    status, hd, body = patch(a, {"Events": {"forbidden_port": "notify"},
                                 "ForbiddenPorts": [{"first": "0x80", "last": "0x80"}]}, tag)
    assert status == 200, body
    assert body["Events"]["forbidden_port"] == "notify" and body["ForbiddenPorts"][0]["first"] == "0x80"
    policy = hv.ok("policy.get")["policy"]
    assert policy["events"]["forbidden_port"] == "notify" and len(policy["forbidden_ports"]) == 1
    new_tag, _ = etag(a)
    assert new_tag == hd["etag"] != tag
    status, _, err = patch(a, {"Events": {"forbidden_port": "log"}}, tag)  # the old ETag
    assert status == 412
    status, _, _ = patch(a, {"Events": {"forbidden_port": "log"}, "ForbiddenPorts": []}, new_tag)
    assert status == 200


@pytest.mark.parametrize("data, msg_id, prop", [
    ({"Events": {"triple_fault": "explode"}}, "PropertyValueNotInList", "#/Events/triple_fault"),
    ({"Events": {"triple_fault": "resume"}}, "PropertyValueNotInList", "#/Events/triple_fault"),
    ({"Events": {"no_such_event": "log"}}, "PropertyUnknown", "#/Events/no_such_event"),
    ({"WatchdogMs": "soon"}, "PropertyValueFormatError", "#/WatchdogMs"),
    ({"ProtectedRanges": [{"gpa": "0x1001", "len": 4096}]}, "PropertyValueFormatError",
     "#/ProtectedRanges/0/gpa"),
    ({"Colour": "blue"}, "PropertyUnknown", "#/Colour"),
    ({"Id": "x"}, "PropertyNotWritable", "#/Id"),
])
def test_policy_refusals_name_the_field(setup, data, msg_id, prop):
    hv, a, _ = setup
    before = hv.ok("policy.get")["policy"]
    tag, _ = etag(a)
    status, _, err = patch(a, data, tag)
    assert status == 400 and message_id(err) == msg_id, err
    assert err["error"]["@Message.ExtendedInfo"][0]["RelatedProperties"] == [prop]
    assert hv.ok("policy.get")["policy"] == before  # all or nothing


def stop_guest(hv):
    if hv.vm("guest")["state"] == "running":
        hv.ok("pause", vm="guest")


def test_read_memory_of_a_stopped_guest_equals_hvctl_peek(setup, tmp_path):
    hv, a, _ = setup
    if hv.vm("guest")["state"] != "running":
        hv.ok("switch", target="guest")
    status, _, err = a.curl(READ, data={"Address": "0x100000", "Length": 64})
    assert status == 409 and "running" in err["error"]["message"], err
    assert a.curl(REGS)[0] == 409
    stop_guest(hv)
    try:
        hvctl(hv, "peek", "guest", "0x100000", "4096", "--out", str(tmp_path / "phys"))
        status, _, body = a.curl(READ, data={"Address": "0x100000", "Length": 4096})
        assert status == 200, body
        assert base64.b64decode(body["Data"]) == (tmp_path / "phys").read_bytes()
        assert body["Length"] == 4096 and body["Address"] == "0x100000"
        status, hd, raw = a.curl(READ, data={"Address": 1048576, "Length": 4096},
                                 headers=["Accept: application/octet-stream"])
        assert status == 200 and hd["content-type"] == "application/octet-stream"
        assert raw == (tmp_path / "phys").read_bytes()
        # Virtual: translated through the stopped vCPU's page tables, as hvctl peek --virt.
        rsp = int(a.get(REGS)["Vcpus"][0]["rsp"], 16) & ~0xfff
        hvctl(hv, "peek", "guest", hex(rsp), "256", "--virt", "--out", str(tmp_path / "virt"))
        status, _, body = a.curl(READ, data={"Address": hex(rsp), "Length": 256, "Virtual": True})
        assert status == 200, body
        assert base64.b64decode(body["Data"]) == (tmp_path / "virt").read_bytes() and body["Walk"]
        regs = a.get(REGS)
        cpu = hv.ok("regs", vm="guest")["vcpus"][0]
        assert regs["State"] == "paused"
        for r in ("rip", "rsp", "cr3", "rflags"):
            assert int(regs["Vcpus"][0][r], 16) == cpu[r] & (2**64 - 1), r
        for data, prop in (({"Address": "0x7fffffff000", "Length": 16}, "#/Address"),
                           ({"Address": "0x100000", "Length": (1 << 20) + 1}, "#/Length"),
                           ({"Address": "0x100000", "Length": 0}, "#/Length"),
                           ({"Address": "twelve", "Length": 16}, "#/Address"),
                           ({"Address": "0x100000", "Length": 16, "Vcpu": 7, "Virtual": True}, "#/Vcpu"),
                           ({"Length": 16}, "#/Address"),
                           ({"Address": 0, "Length": 16, "Bytes": 1}, "#/Bytes")):
            status, _, err = a.curl(READ, data=data)
            assert status == 400, (data, err)
            assert err["error"]["@Message.ExtendedInfo"][0]["RelatedProperties"] == [prop], (data, err)
        assert a.curl(READ, data={"Address": "0x100000", "Length": 1 << 20})[0] == 200
    finally:
        hv.ok("resume", vm="guest")


def test_role_matrix(setup):
    hv, a, _ = setup
    stop_guest(hv)
    try:
        tag, _ = etag(a, user=RO)  # everyone may read the policy
        for user in (RO, OP):
            status, _, err = patch(a, {"WatchdogMs": 0}, tag, user=user)
            assert status == 403 and message_id(err) == "InsufficientPrivilege", (user, err)
            status, _, err = a.curl(READ, data={"Address": 0, "Length": 16}, user=user)
            assert status == 403 and message_id(err) == "InsufficientPrivilege", (user, err)
            assert a.curl(REGS, user=user)[0] == 403
            assert a.curl("/metrics", user=user)[0] == 200
        assert a.curl(READ, data={"Address": 0, "Length": 16})[0] == 200
    finally:
        hv.ok("resume", vm="guest")


def test_readme_recipes(setup):
    hv, a, d = setup
    if hv.vm("guest")["state"] != "running":
        hv.ok("switch", target="guest")
    scrape_block, policy_block, peek_block = readme_blocks("oem-recipes")
    (yaml,) = readme_blocks("oem-recipes", "yaml")
    out = run_recipe(a, d, scrape_block)
    assert 'vigil_switches_total{vm="guest"}' in out and "node_hwmon_temp_celsius{" in out
    assert re.search(r'vigil_vm_state\{vm="guest",state="running"\} 1', out), out
    assert a.get("/redfish/v1/AccountService/Accounts/prometheus")["RoleId"] == "ReadOnly"
    if shutil.which("promtool"):  # the prometheus.yml snippet is a valid configuration
        (d / "prometheus.yml").write_text(yaml)
        p = subprocess.run(["promtool", "check", "config", "prometheus.yml"], cwd=d,
                           capture_output=True, text=True, timeout=scaled(30))
        assert p.returncode == 0, (p.stdout, p.stderr)
    out = run_recipe(a, d, policy_block).split()
    assert out[-2:] == ["notify", "412"] and "triple_fault" in out[0]
    assert hv.ok("policy.get")["policy"]["events"]["forbidden_port"] == "notify"
    out = run_recipe(a, d, peek_block)
    assert re.search(r'\{"rip":"0x[0-9a-f]+","rsp":"0x[0-9a-f]+","cr3":"0x[0-9a-f]+"\}', out), out
    first = bytes.fromhex("".join(out.splitlines()[0].split()[1:]))  # od's first line: 16 bytes
    hvctl(hv, "peek", "guest", "0x100000", "16", "--out", str(d / "code"))  # the guest's code
    assert first == (d / "code").read_bytes()
    assert hv.vm("guest")["state"] == "running"
