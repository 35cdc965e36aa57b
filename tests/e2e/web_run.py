"""web_run.py: where the dashboard tests' chromium runs: here, or on the host through the nested
machine's browser broker (scripts/browser-broker, started by scripts/vigil-kvm --browser-broker)."""
import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from agent import free_port

# Set inside the nested machine when vigil-kvm started a broker on the host: "10.0.2.2:PORT".
BROKER = os.environ.get("VIGIL_BROWSER_BROKER", "")
_TOKEN = os.environ.get("VIGIL_BROWSER_BROKER_TOKEN", "")
_PORTS = [int(p) for p in os.environ.get("VIGIL_BROWSER_PORTS", "").split(",") if p]
# QEMU delivers a forwarded connection to the machine's NIC address, not to its loopback: an
# agent the host's browser must reach listens on every address (curl still uses 127.0.0.1).
LISTEN_HOST = "0.0.0.0" if BROKER else "127.0.0.1"
SCRIPT = Path(__file__).with_name("web_browser.mjs")


def agent_port():
    """A port for an agent the browser will reach: with a broker, a free one of the ports the
    machine forwards from the host; otherwise any free local port."""
    if not BROKER:
        return free_port()
    for port in _PORTS:
        with socket.socket() as s:
            # As the agent binds (SO_REUSEADDR): a closed agent's TIME_WAIT does not hold it.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LISTEN_HOST, port))
                return port
            except OSError:
                continue
    raise AssertionError(f"every forwarded port is in use ({_PORTS})")


def run(cfg, timeout):
    """Runs web_browser.mjs with cfg (here or through the broker): (exit status, stdout, stderr)."""
    if not BROKER:
        p = subprocess.run(["node", str(SCRIPT)], env={**os.environ, "WEB_TEST": json.dumps(cfg)},
                           capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    req = urllib.request.Request(
        f"http://{BROKER}/run", data=json.dumps({"cfg": cfg, "timeout": timeout}).encode(),
        headers={"Authorization": f"Bearer {_TOKEN}", "Content-Type": "application/json"})
    # Straight to the broker: the host's proxy settings cross into the machine with its
    # environment, and a proxy there could not reach the host's loopback anyway.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        # The broker bounds the run by `timeout`; the answer follows within a moment of it.
        with direct.open(req, timeout=timeout + 60) as r:
            res = json.load(r)
    except urllib.error.HTTPError as e:
        raise AssertionError(f"the browser broker refused: {e.code} {e.read().decode(errors='replace')}")
    return res["rc"], res["stdout"], res["stderr"]
