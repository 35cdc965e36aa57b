"""test_agent_hostile.py: the agent's TLS versions and ciphers (openssl s_client), hostile and
malformed HTTP, slow clients, and restarts that keep the accounts and the certificate."""
import hashlib
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from agent import PASSWORD, Agent, agent_on_hv, message_id
from vigil import guest, scaled


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("agent")
    with agent_on_hv(d, args=["--max-conns", "8", "--timeout", "5"]) as (hv, agent):
        yield hv, agent


def s_client(agent, *args):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{agent.port}", "-brief", *args],
                       input=b"", capture_output=True, timeout=scaled(30))
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


@pytest.mark.parametrize("version", ["-tls1", "-tls1_1"])
def test_old_tls_versions_are_refused(setup, version):
    _, a = setup
    # The client's own security level would refuse them first: lower it to ask the server.
    rc, out = s_client(a, version, "-cipher", "DEFAULT@SECLEVEL=0")
    # The refusal is the server's (an alert), not the client's own policy.
    assert rc != 0 and "alert protocol version" in out, out


@pytest.mark.parametrize("version,proto", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls12_and_13_are_accepted_with_modern_ciphers(setup, version, proto):
    _, a = setup
    rc, out = s_client(a, version)
    assert rc == 0 and "CONNECTION ESTABLISHED" in out, out
    assert f"Protocol version: {proto}" in out
    cipher = re.search(r"Ciphersuite: (\S+)", out).group(1)
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher
    assert "Peer signature type: ECDSA" in out or "ecdsa" in out.lower()


def test_tls12_without_forward_secrecy_or_aead_is_refused(setup):
    _, a = setup
    for cipher in ("AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"):
        rc, out = s_client(a, "-tls1_2", "-cipher", cipher)
        assert rc != 0 and "alert handshake failure" in out, (cipher, out)


def test_huge_headers_get_431(setup, tmp_path):
    _, a = setup
    status, _, body = a.curl("/redfish/v1/Systems", headers=["X-Filler: " + "a" * 20000])
    assert status == 431 and message_id(body) == "GeneralError"
    # Beyond MHD's own per-connection memory: still refused, the agent still serves.
    big = tmp_path / "headers"
    big.write_text("".join(f"X-Filler-{i}: {'a' * 1000}\n" for i in range(200)))
    status, _, _ = a.curl("/redfish/v1/Systems", headers=[f"@{big}"])
    assert status in (431, 0)
    assert a.get("/redfish/v1/Systems")["Members@odata.count"] == 2


def test_invalid_json_bombs_and_big_bodies_get_400_or_413(setup):
    _, a = setup
    url = "/redfish/v1/AccountService/Accounts"
    status, _, body = a.curl(url, method="POST", data="{not json")
    assert status == 400 and message_id(body) == "MalformedJSON"
    status, _, body = a.curl(url, method="POST", data="[" * 5000 + "]" * 5000)
    assert status == 400 and message_id(body) == "MalformedJSON"
    status, _, body = a.curl(url, method="POST", data='{"a":"' + "x" * 100000 + '"}')
    assert status == 413 and message_id(body)
    status, _, body = a.curl(url, method="POST", data='{"UserName":"a","UserName":"b"}')
    assert status == 400 and message_id(body) == "MalformedJSON"


@pytest.mark.parametrize("path", [
    "/redfish/v1/Systems/..%2f..%2fetc",
    "/redfish/v1/Systems/%2e%2e",
    "/redfish/v1/Managers/hv/LogServices/Dump/Entries/..%2f..%2fnv%2fagent.accounts/attachment",
    "/redfish/v1/Chassis/vigil/Sensors/%00",
    "/redfish/v1/AccountService/Accounts/.admin",
    "/redfish/v2/Systems",
    "/etc/passwd",
])
def test_path_traversal_in_ids_is_404(setup, path):
    _, a = setup
    status, _, body = a.curl(path, "--path-as-is")
    assert status == 404 and message_id(body) == "ResourceNotFound", (path, status, body)


def tls_socket(agent):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", agent.port), timeout=scaled(10))
    return ctx.wrap_socket(raw)


def test_slow_clients_do_not_block_others_and_are_timed_out(setup):
    _, a = setup
    slow = []
    for _ in range(3):  # headers trickle in, never finished
        s = tls_socket(a)
        s.sendall(b"GET /redfish/v1/Systems HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    stalled = socket.create_connection(("127.0.0.1", a.port))  # never starts its handshake
    t0 = time.time()
    for _ in range(5):
        assert a.get("/redfish/v1/")["Id"] == "RootService"
    assert time.time() - t0 < scaled(10)
    # The agent runs with --timeout 5: the idle ones are closed after it.
    time.sleep(7)
    for s in slow:
        s.settimeout(scaled(5))
        try:
            assert s.recv(100) == b""
        except (ConnectionError, ssl.SSLError):
            pass
        s.close()
    stalled.settimeout(scaled(5))
    try:
        assert stalled.recv(100) == b""
    except ConnectionError:
        pass
    stalled.close()


def test_connection_cap_refuses_extra_clients_and_keeps_serving(setup):
    _, a = setup
    held = [socket.create_connection(("127.0.0.1", a.port)) for _ in range(8)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", a.port))
    extra.settimeout(scaled(5))
    try:
        assert extra.recv(10) == b""  # over the cap: closed at once
    except ConnectionError:
        pass
    for s in held:
        s.close()
    time.sleep(0.3)
    assert a.get("/redfish/v1/")["Id"] == "RootService"


def test_restart_keeps_accounts_and_certificate(tmp_path, start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--mem", "16")
    a = Agent(hv, tmp_path / "a")
    fp = a.fingerprint()
    a.add_account("ops", "ops-pass-1234", "Operator")
    a.stop(signal.SIGKILL)
    # No password file now: the stored accounts are used, no new administrator is made.
    b = Agent(hv, tmp_path / "b", password=None)
    try:
        assert b.fingerprint() == fp
        assert "created account" not in b.output() and "created a self-signed" not in b.output()
        assert b.get("/redfish/v1/Systems", user=("ops", "ops-pass-1234"))["Members@odata.count"] == 2
        assert b.get("/redfish/v1/Systems", user=("admin", PASSWORD))["Members@odata.count"] == 2
        # The records are hv's NV store's: mode 0600 files under its state folder.
        keys = {r["key"] for r in hv.ok("nv.list")["records"]}
        assert {"agent.accounts", "agent.tls"} <= keys
    finally:
        b.stop()


def test_first_start_prints_a_random_admin_password_once(tmp_path, start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--mem", "16")
    a = Agent(hv, tmp_path / "a", password=None)
    try:
        m = re.search(r'created account "admin" \(Administrator\) with password (\S+)', a.output())
        assert m, a.output()
        pw = m.group(1)
        assert len(pw) >= 16
        assert a.get("/redfish/v1/Systems", user=("admin", pw))["Members@odata.count"] == 2
        assert a.curl("/redfish/v1/Systems", user=("admin", "admin"))[0] == 401
        assert a.curl("/redfish/v1/Systems", user=("admin", "password"))[0] == 401
    finally:
        a.stop()


def make_cert(tmp_path, name, keyopt):
    key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", keyopt[0], *keyopt[1:], "-nodes", "-days", "30",
                    "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True, timeout=scaled(60))
    return crt.read_text() + key.read_text()


def served_fingerprint(agent):
    pem = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{agent.port}", "-showcerts"],
                         input=b"", capture_output=True, timeout=scaled(30)).stdout
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest().upper()


def test_replace_certificate_and_keep_it(tmp_path, start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--mem", "16")
    a = Agent(hv, tmp_path / "a")
    target = "/redfish/v1/CertificateService/Actions/CertificateService.ReplaceCertificate"
    uri = {"@odata.id": "/redfish/v1/Managers/service/NetworkProtocol/HTTPS/Certificates/1"}
    a.add_account("ro", "ro-pass-1234", "ReadOnly")
    new = make_cert(tmp_path, "operator-cert", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    weak = make_cert(tmp_path, "weak", ["rsa:1024"])
    body = {"CertificateString": new, "CertificateType": "PEM", "CertificateUri": uri}
    status, _, resp = a.curl(target, method="POST", data=body, user=("ro", "ro-pass-1234"))
    assert status == 403 and message_id(resp) == "InsufficientPrivilege"
    status, _, resp = a.curl(target, method="POST", data=dict(body, CertificateString=weak))
    assert status == 400 and message_id(resp) == "ActionParameterValueFormatError"
    status, _, resp = a.curl(target, method="POST", data=dict(body, CertificateString=new.split("-----BEGIN PRIVATE")[0]))
    assert status == 400
    status, _, resp = a.curl(target, method="POST", data=body)
    assert status == 200 and resp["Subject"]["CommonName"] == "operator-cert", resp
    fp = resp["Fingerprint"].replace(":", "")
    assert served_fingerprint(a) == fp
    assert a.get("/redfish/v1/Managers/service/NetworkProtocol/HTTPS/Certificates/1")["Fingerprint"] == resp["Fingerprint"]
    a.stop()
    b = Agent(hv, tmp_path / "b", password=None)
    try:
        assert served_fingerprint(b) == fp and b.fingerprint().replace(":", "") == fp
    finally:
        b.stop()
