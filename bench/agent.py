#!/usr/bin/env python3
"""agent.py: benchmark of the management agent over HTTPS: keep-alive GETs per second and p99
(wrk), TLS handshakes per second (openssl s_time -new) and crash-core download MB/s (curl).

In one run: the agent as the service VM (svcos + lwIP, reached through hv's slirp port forward);
the peer, `openssl s_server -WWW` in a Linux L2 guest under QEMU -accel kvm with virtio-net and
-netdev user (bench/l2peer.py; where CPU virtualization is real, not on PVM) serving the same core
as a file with an ECDSA P-256 key like the agent's; and as context the same agent natively against
the same hv and the same s_server natively.  s_server -WWW answers HTTP/1.0 and closes every
connection, so wrk cannot drive it ("n/a").  Prints a table and one BENCH JSON line.  Needs
`make all`, wrk and openssl (scripts/deps.sh).
"""
import argparse
import base64
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import l2peer
import platform_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests" / "e2e"))
# The agent's start-up (as the service VM, and natively) is the e2e tests': tests/e2e/agent.py,
# loaded under another name because this file is agent.py too.
_spec = importlib.util.spec_from_file_location("e2e_agent", ROOT / "tests" / "e2e" / "agent.py")
e2e_agent = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e_agent)
wait = e2e_agent.wait_until
HVCTL = ROOT / "build" / "hvctl"
L2_PEER = "peer: s_server -WWW in a Linux L2"
NATIVE_SSERVER = "openssl s_server -WWW natively"
SECONDS = 5
GET_PATH = "/redfish/v1/Systems/guest"  # authenticated, one hv status call per request


def start_l2_peer(tmp, www, port):
    """The peer: `openssl s_server -WWW` (the host's binary and libraries) in a Linux L2 guest
    under QEMU -accel kvm with virtio-net and -netdev user, serving the same files."""
    k = l2peer.kit()
    files = {f"/www/{f.name}": f for f in www.iterdir()}
    files["/usr/lib/ssl/openssl.cnf"] = Path("/usr/lib/ssl/openssl.cnf")
    initrd = l2peer.initramfs(tmp, k, "cd /www && openssl s_server -quiet -WWW -accept 8443 "
                              "-cert peer.pem -key peer.key </dev/null",
                              programs=[shutil.which("openssl")], files=files)
    cmd = l2peer.qemu_cmd(tmp, k, initrd, [(port, 8443)], mem=1024)
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(tmp / "l2.log", "wb"),
                            stderr=subprocess.STDOUT)


def hvctl(sock, *args):
    return subprocess.run([str(HVCTL), "--socket", sock, *args], capture_output=True, text=True,
                          timeout=120).stdout


def answers(url, auth=()):
    p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                        *auth, url], capture_output=True, text=True)
    return p.stdout == "200"


def wrk(url, headers):
    """Keep-alive GETs: 4 connections on one thread for SECONDS; requests/s and p99 in ms."""
    cmd = ["wrk", "-t1", "-c4", f"-d{SECONDS}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=SECONDS + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": p99, "non_2xx": int(errors.group(1)) if errors else 0}


def handshakes(port):
    """Full TLS handshakes per second (no resumption), one client, SECONDS."""
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time",
                          str(SECONDS)], capture_output=True, text=True, timeout=SECONDS + 60).stdout
    m = re.search(r"(\d+) connections in ([\d.]+)s", out) or \
        re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    return int(m.group(1)) / float(m.group(2))


def download(url, auth, size):
    """Best of two whole downloads, MB/s (10^6 bytes)."""
    best = 0.0
    for _ in range(2):
        p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                            "--speed-limit", "1", "--speed-time", "60",  # a stall ends in a minute
                            *auth, url], capture_output=True, text=True, timeout=600)
        got, secs = p.stdout.split()
        assert int(got) == size, (url, got, size)
        best = max(best, size / 1e6 / float(secs))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--l2", choices=("auto", "yes", "no"), default="auto",
                    help="the Linux L2 peer (auto: where CPU virtualization is real, not on PVM)")
    ap.add_argument("--l2-boot-timeout", type=float, default=400)
    args = ap.parse_args()
    plat = platform_info.kvm_platform()
    want_l2 = args.l2 == "yes" or (args.l2 == "auto" and plat not in ("pvm", "none"))
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-agent-"))
    svc_port, peer_port = e2e_agent.free_port(), e2e_agent.free_port()
    procs = []
    try:
        hv = e2e_agent.start_service_vm(tmp, svc_port, guest_mem=64)
        procs.append(hv.proc)
        sock = hv.sock_path
        e2e_agent.serving(hv, svc_port)
        pw = e2e_agent.service_vm_password(hv)
        auth = ["-u", f"admin:{pw}"]
        basic = "Authorization: Basic " + base64.b64encode(f"admin:{pw}".encode()).decode()
        # The same agent natively against the same hv (the accounts are hv's NV store's).
        native = e2e_agent.Agent(hv, tmp / "native", password=None)
        procs.append(native.proc)
        native_port = native.port
        # A core to download: the guest's RAM filled with a pattern.
        hvctl(sock, "switch", "guest")
        wait(lambda: "demo> " in hvctl(sock, "console", "guest"), 30, "the guest")
        hvctl(sock, "console", "guest", "--send", "fill 48\n")
        wait(lambda: "fill: " in hvctl(sock, "console", "guest"), 60, "the fill")
        hvctl(sock, "snapshot", "take", "guest")  # waits for the write
        sid = json.loads(hvctl(sock, "snapshot", "list"))["snapshots"][-1]["id"]
        wait(lambda: len(json.loads(hvctl(sock, "snapshot", "show", sid))["snapshot"]["sha256"]) == 64,
             60, "the core's digest")
        core = tmp / "peer" / "core.bin"
        core.parent.mkdir()
        hvctl(sock, "snapshot", "export", sid, str(core))
        size = core.stat().st_size
        (core.parent / "small.json").write_bytes(b"{}" * 400)  # about a Redfish resource's size
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", "peer.key", "-out",
                        "peer.pem", "-days", "30", "-subj", "/CN=localhost"], cwd=core.parent,
                       check=True, capture_output=True)
        procs.append(subprocess.Popen(["openssl", "s_server", "-quiet", "-WWW", "-accept",
                                       str(peer_port), "-cert", "peer.pem", "-key", "peer.key"],
                                      cwd=core.parent, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
        targets = {
            "service-vm": (svc_port, auth, [basic], GET_PATH,
                           f"/redfish/v1/Managers/hv/LogServices/Dump/Entries/{sid}/attachment"),
            "native": (native_port, auth, [basic], GET_PATH,
                       f"/redfish/v1/Managers/hv/LogServices/Dump/Entries/{sid}/attachment"),
            NATIVE_SSERVER: (peer_port, [], [], "/small.json", "/core.bin"),
        }
        errors = {}
        if want_l2:
            try:
                l2_port = e2e_agent.free_port()
                procs.append(start_l2_peer(tmp, core.parent, l2_port))
                targets[L2_PEER] = (l2_port, [], [], "/small.json", "/core.bin")
            except (OSError, subprocess.SubprocessError) as e:
                errors[L2_PEER] = repr(e)
        for name, (port, a, _, path, _) in list(targets.items()):
            boot = args.l2_boot_timeout if name == L2_PEER else 60
            if not wait(lambda: answers(f"https://127.0.0.1:{port}{path}", a), boot, name,
                        fatal=name != L2_PEER):
                errors[name] = f"no answer within {boot} s: {l2peer.console_tail(tmp)}"
                del targets[name]
        results = {}
        for name, (port, a, hdrs, path, dl) in targets.items():
            base = f"https://127.0.0.1:{port}"
            try:  # a server that fails is reported, the others are still measured
                r = wrk(base + path, hdrs)
                if not r["rps"]:  # s_server -WWW: a request per connection, which wrk cannot drive
                    r["rps"] = r["p99_ms"] = None
                r["handshakes_per_s"] = handshakes(port)
                r["download_mb_s"] = download(base + dl, a, size)
                r["get_path"] = path
                results[name] = r
            except (AssertionError, AttributeError, ValueError, subprocess.SubprocessError) as e:
                errors[name] = repr(e)
        if "service-vm" not in results:
            sys.exit(f"agent.py: the service VM could not be measured: {errors}")
        machine = platform_info.describe()
        print(f"platform: {machine}")
        print(f"core: {size / 1e6:.1f} MB; wrk -t1 -c4 {SECONDS} s; s_time -new {SECONDS} s")
        print(f"{'server':<36} {'GET/s':>9} {'p99 ms':>8} {'handshakes/s':>13} {'download MB/s':>14}")
        for name, r in results.items():
            get = f"{r['rps']:>9.0f} {r['p99_ms']:>8.2f}" if r["rps"] else f"{'n/a':>9} {'n/a':>8}"
            print(f"{name:<36} {get} {r['handshakes_per_s']:>13.0f} {r['download_mb_s']:>14.1f}")
        svc = results["service-vm"]
        ratios = {}
        for name in (L2_PEER, NATIVE_SSERVER):
            if name in results:
                peer = results[name]
                ratios[name] = {k: svc[k] / peer[k] for k in ("rps", "handshakes_per_s", "download_mb_s")
                                if peer[k]}
                print(f"service VM / {name}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios[name].items()))
        for name, e in errors.items():
            print(f"{name}: not measured: {e}")
        print("BENCH " + json.dumps({"agent": {"platform": machine, "core_bytes": size,
                                               "seconds": SECONDS, "results": results,
                                               "service_vm_over": ratios, "errors": errors,
                                               "peer_note": "openssl s_server -WWW: HTTP/1.0, "
                                                            "a connection per request"}},
                                    sort_keys=True))
    finally:
        subprocess.run(["rm", "-rf", str(tmp)])
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
