"""test_agent_testssl.py: testssl.sh (Debian) against the native agent, with its certificate as
the CA and a name the certificate carries: the protocol, cipher, server-preference and
vulnerability checks rate nothing MEDIUM, HIGH or CRITICAL."""
import json
import os
import shutil
import ssl
import subprocess
import time

import pytest

from agent import Agent
from vigil import BUILD, Hv, guest, scaled

BAD = {"MEDIUM", "HIGH", "CRITICAL"}
# The one finding allowed: testssl rates a certificate without a CRL or OCSP URI HIGH whatever
# it is; the agent's own certificate is self-signed (its own CA: there is nothing to revoke it
# with, the fingerprint is what clients pin).  An operator's CA-issued certificate
# (ReplaceCertificate) carries its CA's revocation URIs.
SELF_SIGNED_ONLY = {"cert_revocation"}
# -p protocols, -s standard cipher categories, -P server preference, -U vulnerabilities,
# -S the server's certificate (against --add-ca and the name).  Not run: -E (every cipher one
# by one, ~370 handshakes: minutes), -h headers (they are the HTTP checks' job), -4 client
# simulations, -f forward secrecy listing, -g grease: they rate nothing -s/-P/-U do not cover.
CHECKS = ["-p", "-s", "-P", "-U", "-S"]


@pytest.fixture
def agent(tmp_path):
    if not shutil.which("testssl"):
        pytest.skip("testssl.sh is not installed (scripts/deps.sh installs it)")
    if "asan" in BUILD.name:
        # ~45 s of handshakes that test OpenSSL's configuration, not our memory safety: once,
        # in the normal build, keeps make test's budget.
        pytest.skip("testssl.sh runs against the normal build only")
    if os.environ.get("VIGIL_KVM_INSIDE") == "1":
        # Hundreds of handshakes in software crypto under QEMU's emulator: many minutes, for a
        # check of OpenSSL's configuration that KVM plays no part in.
        pytest.skip("testssl.sh runs where the host has KVM, not in the nested machine")
    (tmp_path / "hv").mkdir()
    hv = Hv(tmp_path / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                              "--mem", "16"])
    a = Agent(hv, tmp_path / "agent")
    yield a
    assert a.stop() == 0, a.output()
    hv.stop()


def test_testssl_rates_nothing_medium_or_worse(agent, tmp_path):
    ca = tmp_path / "agent.pem"
    ca.write_text(ssl.get_server_certificate(("127.0.0.1", agent.port), timeout=scaled(10)))
    out = tmp_path / "testssl.json"
    t0 = time.monotonic()
    p = subprocess.run(["testssl", "--quiet", "--warnings", "batch", "--color", "0", "--fast",
                        "--add-ca", str(ca), "--ip", "127.0.0.1", "--jsonfile", str(out), *CHECKS,
                        # The Redfish root: where credentials and tokens travel.  (BREACH: "/" is
                        # the dashboard's static page, served compressed, with no secret in it.)
                        f"https://localhost:{agent.port}/redfish/v1/"],
                       capture_output=True, text=True, timeout=scaled(300))
    took = time.monotonic() - t0
    assert out.exists(), (p.returncode, p.stdout[-3000:], p.stderr[-2000:])
    findings = json.loads(out.read_text())
    ids = {f["id"] for f in findings}
    # The checks ran: protocols, ciphers, vulnerabilities, the certificate.
    assert {"TLS1_2", "TLS1_3", "SSLv3", "TLS1", "heartbleed", "ROBOT"} <= ids, sorted(ids)
    assert any(i.startswith("cert_trust") for i in ids), sorted(ids)
    bad = [f for f in findings if f.get("severity") in BAD and f["id"] not in SELF_SIGNED_ONLY]
    assert not bad, "\n".join(f'{f["id"]} {f["severity"]}: {f["finding"]}' for f in bad)
    offered = {f["id"]: f["finding"] for f in findings}
    assert offered["TLS1_3"].startswith("offered") and offered["TLS1"].startswith("not offered")
    assert offered["cert_chain_of_trust"].startswith("passed"), offered["cert_chain_of_trust"]
    assert "Ok via SAN" in offered["cert_trust"], offered["cert_trust"]  # localhost matches
    assert offered["BREACH"].startswith("not vulnerable") or "no gzip" in offered["BREACH"] \
        or "no HTTP compression" in offered["BREACH"], offered["BREACH"]
    print(f"testssl: {len(findings)} findings, {took:.1f} s")
