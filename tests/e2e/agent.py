"""agent.py: helpers for the mgmt-agent tests and bench/agent.py: start the agent as the service VM
or natively against an hv, talk to it with curl."""
import base64
import contextlib
import http.client
import json
import re
import ssl
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vigil import BUILD, Hv, guest, scaled

AGENT = BUILD / "mgmt-agent" / "mgmt-agent"
AGENT_ELF = BUILD / "mgmt-agent" / "agent.elf"
PASSWORD = "correct-horse-battery"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what, fatal=True):
    """For the bench scripts: polls pred every 0.1 s for up to timeout seconds and returns its first
    true value; then None, or (fatal) exits naming what, since a traceback would add nothing."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    if fatal:
        sys.exit(f"{Path(sys.argv[0]).name}: timed out waiting for {what}")
    return None


def start_service_vm(tmp_path, port, guest_mem=16):
    """hv with the agent as the service VM (128 MiB, its HTTPS port forwarded to 127.0.0.1:port)
    and the demo guest."""
    return Hv(tmp_path, ["--service", str(AGENT_ELF), "--mem", "128",
                         "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8443",
                         "--guest", guest("demo.elf"), "--mem", str(guest_mem)])


def curl_status(url, *args):
    """(HTTP status, body) of one curl request; status 0 when nothing answered."""
    p = subprocess.run(["curl", "-sk", "--max-time", str(int(scaled(30))), "-w", "\n%{http_code}", *args, url],
                       capture_output=True, timeout=scaled(60))
    body, _, status = p.stdout.rpartition(b"\n")
    return int(status or 0), body


def serving(hv, port):
    """Waits until the service VM's agent answers on the forwarded port; returns its base URL."""
    hv.wait_console("service", "mgmt-agent: serving https://", 60)
    base = f"https://127.0.0.1:{port}"
    hv.wait_for(lambda: curl_status(base + "/redfish/v1/")[0] == 200, 30, "the agent answering")
    return base


def service_vm_password(hv):
    """The admin password the service VM's agent made on its first start (its console says it)."""
    m = re.search(r'created account "admin" \(Administrator\) with password (\S+)', hv.console("service"))
    assert m, "the service VM's agent printed no admin password"
    return m.group(1)


class Agent:
    """One native mgmt-agent process serving HTTPS on a free localhost port."""

    def __init__(self, hv, workdir, password=PASSWORD, args=(), port=None, listen_host="127.0.0.1"):
        self.hv, self.dir = hv, Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.log_path = self.dir / f"agent-{self.port}-{time.monotonic_ns()}.log"
        cmd = [str(AGENT), "--hv-socket", hv.sock_path, "--listen", f"{listen_host}:{self.port}",
               *args]
        if password:
            pw = self.dir / "admin-password"
            pw.write_text(password + "\n")
            cmd += ["--admin-password-file", str(pw)]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + scaled(20)
        while "serving https://" not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"mgmt-agent did not start:\n{self.output()}")
            time.sleep(0.05)

    def output(self):
        self.log.flush()
        return self.log_path.read_bytes().decode(errors="replace")

    def fingerprint(self):
        return re.search(r"certificate SHA-256 ([0-9A-F:]+)", self.output()).group(1)

    def stop(self, sig=signal.SIGTERM):
        if getattr(self, "conn", None):
            self.conn.close()
            self.conn = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(scaled(10))
        self.log.close()
        return self.proc.returncode

    def curl(self, path, *args, user=("admin", PASSWORD), token=None, method=None, data=None,
             headers=(), out=None):
        """One request; returns (status, headers as a lower-cased dict, body bytes or parsed JSON).
        Plain requests go over one kept-alive HTTPS connection (a curl process and a TLS handshake
        per request cost seconds in the nested machine); with curl arguments or out=, curl runs."""
        if not args and not out and not any(h.startswith("@") for h in headers):
            return self.request(path, user, token, method, data, headers)
        with tempfile.NamedTemporaryFile() as hdr, tempfile.NamedTemporaryFile() as body:
            cmd = ["curl", "-sk", "-D", hdr.name, "-o", out or body.name, "-w", "%{http_code}",
                   "--max-time", str(int(scaled(60)))]
            if user and not token:
                cmd += ["-u", f"{user[0]}:{user[1]}"]
            if token:
                cmd += ["-H", f"X-Auth-Token: {token}"]
            if method:
                cmd += ["-X", method]
            if data is not None:
                cmd += ["-H", "Content-Type: application/json",
                        "--data-binary", data if isinstance(data, str) else json.dumps(data)]
            for h in headers:
                cmd += ["-H", h]
            url = path if path.startswith("http") else self.base + path
            p = subprocess.run(cmd + list(args) + [url], capture_output=True, text=True,
                               timeout=scaled(90))
            status = int(p.stdout.strip() or 0)
            hd = {}
            for line in Path(hdr.name).read_text(errors="replace").splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    hd[k.strip().lower()] = v.strip()
            raw = b"" if out else Path(body.name).read_bytes()
            ctype = hd.get("content-type", "")
            if raw and ctype.startswith("application/json") and "-I" not in args:
                return status, hd, json.loads(raw)
            return status, hd, raw

    def request(self, path, user, token, method, data, headers):
        hd = {}
        if user and not token:
            hd["Authorization"] = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        if token:
            hd["X-Auth-Token"] = token
        body = None
        if data is not None:
            hd["Content-Type"] = "application/json"
            body = data if isinstance(data, str) else json.dumps(data)
        for h in headers:
            k, v = h.split(":", 1)
            hd[k.strip()] = v.strip()
        method = method or ("POST" if data is not None else "GET")
        for attempt in range(2):  # the agent closes idle connections: reconnect once
            if getattr(self, "conn", None) is None:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx,
                                                        timeout=scaled(60))
            try:
                self.conn.request(method, path, body=body, headers=hd)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, ConnectionError, ssl.SSLError, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        rh = {k.lower(): v for k, v in r.getheaders()}
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        if raw and rh.get("content-type", "").startswith("application/json"):
            return r.status, rh, json.loads(raw)
        return r.status, rh, raw

    def get(self, path, **kw):
        status, _, body = self.curl(path, **kw)
        assert status == 200, (path, status, body)
        return body

    def add_account(self, user, password, role):
        """Creates an account as admin (POST to the AccountService), or fails the test."""
        status, _, body = self.curl("/redfish/v1/AccountService/Accounts", method="POST",
                                    data={"UserName": user, "Password": password, "RoleId": role})
        assert status == 201, body


@contextlib.contextmanager
def agent_on_hv(d, args=(), guest_image="demo.elf"):
    """An hv in d/hv (the service stub, a 16 MiB guest) and an agent on it in d/agent, for a
    module's fixture: yields (hv, agent); afterwards the agent must exit cleanly (no sanitizer
    report), and both are stopped even if something failed."""
    (d / "hv").mkdir()
    hv = Hv(d / "hv", ["--service", guest("service-stub.elf"), "--guest", guest(guest_image),
                       "--mem", "16"])
    agent = None
    try:
        agent = Agent(hv, d / "agent", args=args)
        yield hv, agent
        assert agent.stop() == 0, agent.output()
    finally:  # whatever failed, nothing is left running
        if agent and agent.proc.poll() is None:
            agent.proc.kill()
        hv.stop()


def message_id(body):
    """The Base registry MessageId of a Redfish error body."""
    assert isinstance(body, dict) and "error" in body, body
    info = body["error"]["@Message.ExtendedInfo"]
    assert info and info[0]["MessageId"] == body["error"]["code"], body
    return body["error"]["code"].rsplit(".", 1)[1]
