#!/usr/bin/env python3
"""bench/upload.py: crash -> collector receipt time, and the agent's upload throughput against curl.

Not a test: prints a table and a JSON result (build/bench/upload.json). For each guest size (--sizes,
MiB; the demo guest, --fill MiB of it written with a pattern first so the core is not all zeros):
  crash -> receipt : the demo guest's `crash ud2` (hv's freeze time, the snapshot's time_ns) until
                     vigil-collector has committed the report (its receipt's time); both wall clock
  agent upload     : the POST at the collector, from its headers until its answer (the core read
                     from hv in 1 MiB chunks, gzip -1 while streaming, TLS, chunked multipart)
  curl upload      : `curl` POSTing the same core, gzip'ed beforehand (not timed), in the same
                     multipart/chunked format to the same collector (time_pretransfer to time_total)
Throughputs are of the uncompressed core (MiB/s). Native hv and agent (the service VM build is not
measured here).
"""
import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from agent import Agent, free_port  # noqa: E402
from vigil import Hv, guest  # noqa: E402

COLLECTOR = ROOT / "tools" / "vigil-collector"


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            d / "ca.key", "-out", d / "ca.pem", "-days", "2", "-subj", "/CN=bench-ca")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            d / "srv.key", "-out", d / "srv.csr", "-subj", "/CN=localhost")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", d / "srv.csr", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
            "-CAcreateserial", "-out", d / "srv.pem", "-days", "2", "-extfile", d / "ext")


def curl_json(port, path, ca):
    out = subprocess.run(["curl", "-s", "--cacert", str(ca), f"https://127.0.0.1:{port}{path}"],
                         capture_output=True, check=True).stdout
    return json.loads(out)


def one(size, fill, work, pki):
    d = Path(tempfile.mkdtemp(dir=work))
    port = free_port()
    store = d / "store"
    col = subprocess.Popen([sys.executable, str(COLLECTOR), "--listen", f"127.0.0.1:{port}", "--cert",
                            str(pki / "srv.pem"), "--key", str(pki / "srv.key"), "--store", str(store),
                            "--quiet"], stderr=subprocess.DEVNULL)
    (d / "hv").mkdir()
    hv = Hv(d / "hv", ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--mem",
                       str(size), "--autostart-guest"])
    agent = None
    try:
        time.sleep(0.5)
        agent = Agent(hv, d / "agent", args=["--upload-url", f"https://127.0.0.1:{port}/reports",
                                             "--upload-ca", str(pki / "ca.pem"), "--upload-backoff",
                                             "0.2,1", "--upload-timeout", "120"])
        hv.wait_console("guest", "demo>")
        if fill:
            hv.type("guest", f"fill {fill}\n")
            hv.wait_console("guest", "fill: ", timeout=120)
        hv.type("guest", "crash ud2\n")
        hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], 120, "the snapshot")
        snap = hv.ok("snapshot.list")["snapshots"][0]
        reports = hv.wait_for(lambda: curl_json(port, "/reports", pki / "ca.pem")["reports"], 600,
                              "the receipt")
        ans = [a for a in curl_json(port, "/stats", pki / "ca.pem")["answers"] if a["status"] == 201][0]
        crash_to_receipt = reports[0]["received"] - snap["time_ns"] / 1e9
        agent_s = ans["time"] - ans["start"]
        core = store / reports[0]["uuid"] / "core"
        nbytes = core.stat().st_size
        gz = d / "core.gz"
        with open(core, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        meta = d / "meta.json"
        meta.write_text(json.dumps({"uuid": str(uuid.uuid4()), "sha256": reports[0]["sha256"]}))
        w = subprocess.run(["curl", "-s", "-o", "/dev/null", "--cacert", str(pki / "ca.pem"), "-H",
                            "Transfer-Encoding: chunked", "-F", f"metadata=@{meta};type=application/json",
                            "-F", f"core=@{gz};type=application/gzip", "-w",
                            "%{http_code} %{time_pretransfer} %{time_total}",
                            f"https://127.0.0.1:{port}/reports"], capture_output=True, text=True, check=True)
        code, pre, total = w.stdout.split()
        assert code == "201", w.stdout
        curl_s = float(total) - float(pre)
        return {"guest_mib": size, "fill_mib": fill, "core_bytes": nbytes, "gz_bytes": gz.stat().st_size,
                "crash_to_receipt_s": round(crash_to_receipt, 3), "agent_upload_s": round(agent_s, 3),
                "curl_upload_s": round(curl_s, 3),
                "agent_mib_s": round(nbytes / 2**20 / agent_s, 1),
                "curl_mib_s": round(nbytes / 2**20 / curl_s, 1)}
    finally:
        if agent:
            agent.stop()
        hv.stop()
        col.kill()
        col.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="16,1024", help="guest sizes in MiB (16,1024)")
    ap.add_argument("--fill", type=int, default=256, help="MiB the guest writes before it crashes (256; "
                    "capped by its size)")
    ap.add_argument("--out", default=str(ROOT / "build" / "bench" / "upload.json"))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-upload-bench-"))
    pki = work / "pki"
    pki.mkdir()
    make_pki(pki)
    rows = []
    try:
        for size in (int(s) for s in a.sizes.split(",")):
            rows.append(one(size, min(a.fill, max(0, size - 8)), work, pki))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'guest':>7} {'filled':>7} {'core':>9} {'gz':>9} {'crash->receipt':>15} {'agent':>14} {'curl':>14}")
    for r in rows:
        print(f"{r['guest_mib']:>5}Mi {r['fill_mib']:>5}Mi {r['core_bytes'] / 2**20:>7.0f}Mi "
              f"{r['gz_bytes'] / 2**20:>7.1f}Mi {r['crash_to_receipt_s']:>13.2f} s "
              f"{r['agent_upload_s']:>6.2f} s {r['agent_mib_s']:>4.0f}/s {r['curl_upload_s']:>6.2f} s "
              f"{r['curl_mib_s']:>4.0f}/s")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"runs": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
