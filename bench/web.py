#!/usr/bin/env python3
"""web.py: benchmark of the dashboard's first view in headless chromium: first contentful paint
(the login form), the TLS connection, the last asset byte, the bytes sent, and login to the
overview; from the agent as the service VM (svcos + lwIP through hv's slirp port forward) and
from the same agent natively against the same hv. RUNS cold loads each (a new browser context:
no cache). Prints a table and one BENCH JSON line. Needs `make all` (web included) and chromium.
Not part of `make bench`: that runs in the nested machine, where chromium takes minutes.
"""
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import platform_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests" / "e2e"))
# free_port and wait are the e2e tests' (tests/e2e/agent.py), loaded by path: bench/agent.py shadows
# the name.
_spec = importlib.util.spec_from_file_location("e2e_agent", ROOT / "tests" / "e2e" / "agent.py")
_e2e_agent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e_agent)
free_port = _e2e_agent.free_port
wait = _e2e_agent.wait_until

HV, HVCTL = ROOT / "build" / "hv", ROOT / "build" / "hvctl"
AGENT_ELF = ROOT / "build" / "mgmt-agent" / "agent.elf"
AGENT = ROOT / "build" / "mgmt-agent" / "mgmt-agent"
DEMO = ROOT / "build" / "guests" / "demo.elf"
WEB = ROOT / "build" / "web"
RUNS = int(os.environ.get("RUNS", "5"))


def hvctl(sock, *args):
    return subprocess.run([str(HVCTL), "--socket", sock, *args], capture_output=True, text=True,
                          timeout=120).stdout


def answers(url):
    p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                        url], capture_output=True, text=True)
    return p.stdout == "200"


def browse(base, pw):
    """RUNS cold first views and logins in chromium (tests/e2e/web_browser.mjs's paint mode)."""
    mods = sorted((ROOT / "build" / "web-npm").glob("*/node_modules/playwright-core"))
    if not mods:
        sys.exit("web.py: make web has not installed playwright-core")
    cfg = {"base": base, "admin": ["admin", pw], "paint": RUNS, "modules": str(mods[-1].parent),
           "chromium": shutil.which("chromium") or "/usr/bin/chromium", "shots": "/tmp",
           "timeoutMs": 60000}
    p = subprocess.run(["node", str(ROOT / "tests" / "e2e" / "web_browser.mjs")],
                       env={**os.environ, "WEB_TEST": json.dumps(cfg)}, capture_output=True,
                       text=True, timeout=600)
    m = re.search(r"^web: paint (.*)$", p.stdout, re.M)
    if p.returncode or not m:
        sys.exit(f"web.py: the browser failed:\n{p.stdout}{p.stderr}")
    return json.loads(m.group(1))


def summary(runs):
    out = {}
    for k in ("fcp_ms", "connect_ms", "last_byte_ms", "login_ms"):
        xs = [r[k] for r in runs if r[k] is not None]
        out[k] = {"median": round(statistics.median(xs)), "min": round(min(xs)),
                  "max": round(max(xs))} if xs else None
    out["sent_bytes"] = runs[0]["sent_bytes"]
    return out


def main():
    for f in (HV, HVCTL, AGENT_ELF, AGENT, DEMO, WEB / "index.html"):
        if not f.exists():
            sys.exit(f"web.py: {f} is missing: run make all")
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-web-"))
    svc_port, native_port = free_port(), free_port()
    sock = str(tmp / "hv.sock")
    hv = subprocess.Popen([str(HV), "--control", sock, "--state-dir", str(tmp / "state"),
                           "--service", str(AGENT_ELF), "--mem", "128",
                           "--net", f"user,hostfwd=tcp:127.0.0.1:{svc_port}-:8443",
                           "--guest", str(DEMO), "--mem", "64"],
                          stdin=subprocess.DEVNULL, stdout=open(tmp / "hv.log", "wb"),
                          stderr=subprocess.STDOUT)
    procs = [hv]
    try:
        console = lambda: hvctl(sock, "console", "service")  # noqa: E731
        wait(lambda: "mgmt-agent: serving" in console(), 120, "the agent in the service VM")
        pw = re.search(r'with password (\S+)', console()).group(1)
        procs.append(subprocess.Popen([str(AGENT), "--hv-socket", sock, "--listen",
                                       f"127.0.0.1:{native_port}", "--web-root", str(WEB)],
                                      stdout=open(tmp / "native.log", "wb"),
                                      stderr=subprocess.STDOUT))
        results = {}
        for name, port in (("service_vm", svc_port), ("native", native_port)):
            base = f"https://127.0.0.1:{port}"
            wait(lambda: answers(base + "/"), 60, f"the {name} agent's dashboard")
            results[name] = summary(browse(base, pw))
        print(f"{'':12} {'first paint':>16} {'TLS connect':>16} {'last asset byte':>16} "
              f"{'login':>16}   (ms: median [min-max] of {RUNS} cold loads)")
        for name, r in results.items():
            cells = [f"{r[k]['median']} [{r[k]['min']}-{r[k]['max']}]" if r[k] else "n/a"
                     for k in ("fcp_ms", "connect_ms", "last_byte_ms", "login_ms")]
            print(f"{name:12} " + " ".join(f"{c:>16}" for c in cells))
        print(f"first view: {results['native']['sent_bytes']} bytes sent (Brotli)")
        print("BENCH " + json.dumps({"web": {"platform": platform_info.describe(), "runs": RUNS,
                                             **results}}))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
