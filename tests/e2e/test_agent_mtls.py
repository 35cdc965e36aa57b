"""test_agent_mtls.py: client-certificate login: a certificate from the configured CA logs in
as the account its Subject CN names, with no password; no certificate leaves normal auth; one
from another CA is refused at the TLS handshake."""
import subprocess

import pytest

from agent import PASSWORD, Agent, message_id
from vigil import Hv, guest, scaled


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30", "-subj", f"/CN={name}",
            cwd=d)


def make_client(d, ca, cn):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            f"{cn}-{ca}.key", "-out", f"{cn}-{ca}.csr", "-subj", f"/O=Vigil tests/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{cn}-{ca}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "30", "-out", f"{cn}-{ca}.crt", cwd=d)
    return ["--cert", str(d / f"{cn}-{ca}.crt"), "--key", str(d / f"{cn}-{ca}.key")]


def curl(a, path, *args):
    p = subprocess.run(["curl", "-sk", "--max-time", str(int(scaled(30))), "-o", "/dev/null",
                        "-w", "%{http_code}", *args, a.base + path], capture_output=True, text=True,
                       timeout=scaled(60))
    return p.returncode, int(p.stdout or 0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("mtls")
    make_ca(d, "ops-ca")
    make_ca(d, "rogue-ca")
    certs = {"admin": make_client(d, "ops-ca", "admin"),
             "viewer": make_client(d, "ops-ca", "viewer"),
             "nobody": make_client(d, "ops-ca", "nobody"),
             "rogue": make_client(d, "rogue-ca", "admin")}
    (d / "hv").mkdir()
    hv = Hv(d / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                       "--mem", "16"])
    agent = Agent(hv, d / "agent", args=["--client-ca", str(d / "ops-ca.pem")])
    agent.add_account("viewer", "viewer-pass-1", "ReadOnly")
    yield hv, agent, certs, d
    hv.stop()


def test_a_certificate_logs_in_as_its_cn(setup):
    _, a, certs, _ = setup
    assert "client certificates from 1 CA(s)" in a.output()
    assert curl(a, "/redfish/v1/Systems", *certs["admin"]) == (0, 200)
    # The account's role applies: ReadOnly reads, may not reset.
    assert curl(a, "/redfish/v1/Systems", *certs["viewer"]) == (0, 200)
    assert curl(a, "/redfish/v1/Systems/guest/Actions/ComputerSystem.Reset", *certs["viewer"],
                "-X", "POST", "-H", "Content-Type: application/json",
                "-d", '{"ResetType":"Pause"}') == (0, 403)
    # A verified certificate whose CN names no account is no login.
    assert curl(a, "/redfish/v1/Systems", *certs["nobody"]) == (0, 401)
    # Headers decide when present: a wrong password with a good certificate is refused.
    assert curl(a, "/redfish/v1/Systems", *certs["admin"], "-u", "admin:wrong-password") == (0, 401)


def test_without_a_certificate_normal_auth_works(setup):
    _, a, _, _ = setup
    assert curl(a, "/redfish/v1/Systems") == (0, 401)
    assert curl(a, "/redfish/v1/Systems", "-u", f"admin:{PASSWORD}") == (0, 200)
    status, _, body = a.curl("/redfish/v1/Systems", user=None)
    assert status == 401 and message_id(body) == "NoValidSession"


def test_another_cas_certificate_is_refused_at_the_handshake(setup):
    _, a, certs, _ = setup
    rc, status = curl(a, "/redfish/v1/", *certs["rogue"])
    assert rc != 0 and status == 0  # no HTTP at all: the TLS handshake failed
    assert curl(a, "/redfish/v1/") == (0, 200)  # the agent serves on


def test_the_bundle_from_the_nv_store(setup):
    hv, a, certs, d = setup
    assert a.stop() == 0, a.output()
    resp = hv.call("nv.put", data=(d / "ops-ca.pem").read_bytes(), key="agent.clientca")
    assert resp["ok"], resp
    b = Agent(hv, d / "agent2")
    try:
        assert "NV record agent.clientca" in b.output()
        assert curl(b, "/redfish/v1/Systems", *certs["admin"]) == (0, 200)
        assert curl(b, "/redfish/v1/", *certs["rogue"])[0] != 0
    finally:
        assert b.stop() == 0, b.output()
        hv.call("nv.delete", key="agent.clientca")
