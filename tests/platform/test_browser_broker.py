"""test_browser_broker.py: scripts/browser-broker refuses what it must (no token, a wrong one, a URL not forwarded, screenshots outside build/, a huge body), and the nested machine reaches it (vigil-kvm --browser-broker)."""
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker():
    p = subprocess.Popen([str(ROOT / "scripts" / "browser-broker")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        yield json.loads(p.stdout.readline())
    finally:
        p.terminate()
        p.wait(10)


def post(info, body, token=None, path="/run"):
    """(status, answer) of one request to the broker, as the test inside the machine makes it."""
    token = info["env"]["VIGIL_BROWSER_BROKER_TOKEN"] if token is None else token
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{info['port']}{path}", data=data,
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_the_broker_announces_its_forwards_and_the_address_inside(broker):
    env = broker["env"]
    assert env["VIGIL_BROWSER_BROKER"] == f"10.0.2.2:{broker['port']}"
    inside = env["VIGIL_BROWSER_PORTS"].split(",")
    assert len(inside) >= 3  # two agents and a service VM at once in test_web.py
    assert [f.split("-:")[1] for f in broker["forward"]] == inside
    assert all(f.startswith("127.0.0.1:") for f in broker["forward"])  # never another interface
    assert len(env["VIGIL_BROWSER_BROKER_TOKEN"]) >= 32


def test_the_broker_refuses_what_it_must_not_run(broker):
    inside = int(broker["env"]["VIGIL_BROWSER_PORTS"].split(",")[0])
    good = {"cfg": {"base": f"https://127.0.0.1:{inside}", "smoke": True}, "timeout": 1}
    assert post(broker, good, token="")[0] == 401
    assert post(broker, good, token="0" * 32)[0] == 401
    assert post(broker, good, path="/exec")[0] == 404
    status, ans = post(broker, {**good, "cfg": {"base": "https://127.0.0.1:22"}})
    assert status == 400 and "forwarded port" in ans["error"], ans
    status, ans = post(broker, {**good, "cfg": {"base": "https://10.1.2.3:%d" % inside}})
    assert status == 400, ans
    status, ans = post(broker, {**good, "cfg": {**good["cfg"], "shots": "/etc"}})
    assert status == 400 and "screenshots" in ans["error"], ans
    status, ans = post(broker, {**good, "cfg": {**good["cfg"], "shots": str(ROOT / "build" / "..")}})
    assert status == 400, ans
    assert post(broker, b"x" * (65 * 1024))[0] == 413
    assert post(broker, b"not json")[0] == 400


INSIDE = r"""
import json, os, urllib.error, urllib.request
broker, token = os.environ["VIGIL_BROWSER_BROKER"], os.environ["VIGIL_BROWSER_BROKER_TOKEN"]
port = os.environ["VIGIL_BROWSER_PORTS"].split(",")[0]
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for tok, base in (("wrong", "https://127.0.0.1:" + port), (token, "https://127.0.0.1:1")):
    body = json.dumps({"cfg": {"base": base, "smoke": True}, "timeout": 1}).encode()
    req = urllib.request.Request("http://%s/run" % broker, data=body,
                                 headers={"Authorization": "Bearer " + tok})
    try:
        direct.open(req, timeout=60)
    except urllib.error.HTTPError as e:
        print(broker.split(":")[0], e.code)
"""


def test_the_machine_reaches_its_broker_at_the_hosts_address(tmp_path):
    """vigil-kvm --browser-broker: the command inside gets the broker's address and token, and
    reaches it through QEMU's user network (the refusals prove it answered)."""
    env = dict(os.environ, VIGIL_KVM="vm", VIGIL_KVM_RUNDIR=str(tmp_path))
    p = subprocess.run([str(ROOT / "scripts" / "vigil-kvm"), "-v", "--browser-broker", "--",
                        "/usr/bin/python3", "-c", INSIDE], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["10.0.2.2", "401", "10.0.2.2", "400"], (p.stdout, p.stderr)
    assert "forwards 127.0.0.1:" in p.stderr and "refused: " in p.stderr
