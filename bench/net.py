#!/usr/bin/env python3
"""net.py: benchmark of the service VM's network: bulk TCP both ways and keep-alive HTTP GETs through virtio-net + slirp.

The same server (the self-test's --mode serve: libmicrohttpd) runs in three places, and the same
client on this host talks to each through a host port forward:
  - svcos as hv's service VM: hv's virtio-net card (MMIO) with libslirp (`--net user,hostfwd=`);
  - a Linux L2 guest under QEMU `-accel kvm`: virtio-net-pci and `-netdev user` (the same
    libslirp), Debian's kernel from the nested machine's kit and a busybox initramfs built here
    around build/svcos/selftest-native (static musl);
  - natively on Linux over loopback (context: no VM, no slirp).
Prints a table and one JSON line naming the platform.  Needs `make all svcos-selftest
svcos-selftest-native`; the Linux guest needs CPU virtualization (`make bench` runs this in the
nested machine, scripts/vigil-kvm).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import l2peer
import platform_info

ROOT = Path(__file__).resolve().parents[1]
HV = ROOT / "build" / "hv"
IMAGE = ROOT / "build" / "svcos" / "selftest.elf"
NATIVE = ROOT / "build" / "svcos" / "selftest-native"
CHUNK = 4 << 20
IO_TIMEOUT = 180  # seconds without progress before a transfer counts as stalled

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(s, path, body_len=0):
    s.sendall(f"{'POST' if body_len else 'GET'} {path} HTTP/1.1\r\nHost: bench\r\n"
              f"Content-Length: {body_len}\r\n\r\n".encode())


def read_head(s, buf):
    """Reads up to the end of the headers; returns (content length, bytes of body already read)."""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.decode(errors="replace"))
    length = next(int(h.split(b":", 1)[1]) for h in head.split(b"\r\n")[1:]
                  if h.lower().startswith(b"content-length:"))
    return length, rest


def read_answer(s):
    length, rest = read_head(s, b"")
    while len(rest) < length:
        chunk = s.recv(length - len(rest))
        if not chunk:
            raise ConnectionError("closed inside the body")
        rest += chunk
    return rest


def wait_ready(port, timeout, proc):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc and proc.poll() is not None:
            raise RuntimeError(f"the server's VM exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(5)
                request(s, "/hello")
                if read_answer(s).startswith(b"hello"):
                    return
        except (OSError, ConnectionError, StopIteration):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer on port {port} after {timeout} s")


def download(port, mib):
    buf = bytearray(CHUNK)
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        t0 = time.perf_counter()
        request(s, f"/bulk?mb={mib}")
        length, rest = read_head(s, b"")
        got = len(rest)
        while got < length:
            n = s.recv_into(buf)
            if not n:
                raise ConnectionError(f"download ended at {got} of {length} bytes")
            got += n
        return length / (time.perf_counter() - t0) / 1e6


def upload(port, mib):
    data = bytes(CHUNK)
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        t0 = time.perf_counter()
        request(s, "/sink?hash=0", mib << 20)
        for _ in range((mib << 20) // CHUNK):
            s.sendall(data)
        rest = read_answer(s)
        dt = time.perf_counter() - t0
        if json.loads(rest)["bytes"] != mib << 20:
            raise ConnectionError(f"upload: the server counted {rest!r}")
        return (mib << 20) / dt / 1e6


def get_rate(port, seconds):
    """Keep-alive GET /hello on one connection, one request at a time: requests per second."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            request(s, "/hello")
            read_answer(s)
            n += 1
        return n / (time.perf_counter() - t0)


def measure(port, args):
    runs = {"down": [], "up": [], "get": []}
    for _ in range(args.runs):
        runs["down"].append(download(port, args.mib))
        runs["up"].append(upload(port, args.mib))
        runs["get"].append(get_rate(port, args.seconds))
    return {k: {"median": statistics.median(v), "runs": [round(x, 1) for x in v]} for k, v in runs.items()}


def serve_and_measure(cmd, port, args, boot_timeout, log, env=None):
    """Starts the server (a VM, or the program), measures once it answers, stops it."""
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, boot_timeout, p)
        return measure(port, args)
    finally:
        p.kill()
        p.wait(30)


def run_svcos(tmp, args):
    port = free_port()
    return serve_and_measure([str(HV), "--control", str(tmp / "hv.sock"), "--state-dir", str(tmp / "state"),
                              "--service", str(IMAGE), "--mem", "256", "--cmdline", "--mode serve",
                              "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8080"],
                             port, args, 120, open(tmp / "hv.log", "wb"))


def run_linux(tmp, args):
    k = l2peer.kit()
    modargs = dict(m.split(":", 1) for m in args.linux_modargs)
    initrd = l2peer.initramfs(tmp, k, "SERVE_PORT=8080 /bin/serve --mode serve",
                              files={"/bin/serve": NATIVE}, modargs=modargs)
    port = free_port()
    cmd = l2peer.qemu_cmd(tmp, k, initrd, [(port, 8080)], mem=args.linux_mem, accel=args.linux_accel,
                          nic=args.linux_nic, append=args.linux_append)
    try:
        res = serve_and_measure(cmd, port, args, args.linux_boot_timeout, open(tmp / "l2.log", "wb"))
    except (RuntimeError, OSError, ConnectionError) as e:
        print(f"net.py: the Linux guest: {e!r}\n{(tmp / 'l2.log').read_text(errors='replace')}\n"
              f"{l2peer.console_tail(tmp)}", file=sys.stderr)
        raise
    for line in l2peer.console_tail(tmp).splitlines():
        if line.startswith("l2peer:"):
            print(f"net.py: the Linux guest said {line!r}", file=sys.stderr)
    return dict(res, kernel=l2peer.kernel_version(k))


def run_native(tmp, args):
    port = free_port()
    return serve_and_measure([str(NATIVE), "--mode", "serve"], port, args, 30, subprocess.DEVNULL,
                             env=dict(os.environ, SERVE_PORT=str(port)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=64, help="MiB per bulk transfer")
    ap.add_argument("--seconds", type=float, default=3, help="seconds of keep-alive GETs per run")
    ap.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    ap.add_argument("--linux", choices=("auto", "yes", "no", "only"), default="auto",
                    help="the Linux L2 peer (auto: where CPU virtualization is real, not on PVM; only: it alone)")
    ap.add_argument("--linux-boot-timeout", type=float, default=300)
    ap.add_argument("--linux-nic", default="virtio-net-pci", help="the L2's NIC device (QEMU -device, netdev added)")
    ap.add_argument("--linux-mem", type=int, default=512, help="the L2's memory (MiB)")
    ap.add_argument("--linux-append", default="", help="more of the L2 kernel's command line")
    ap.add_argument("--linux-modargs", action="append", default=[], metavar="MODULE:PARAMS",
                    help="parameters for a module of the L2's, e.g. virtio_net:napi_tx=0 (repeatable)")
    ap.add_argument("--linux-accel", default="kvm", help=argparse.SUPPRESS)  # tcg: to try /init without KVM
    args = ap.parse_args()
    for f in (HV, IMAGE, NATIVE):
        if not f.exists():
            sys.exit(f"{f} is missing: make all svcos-selftest svcos-selftest-native")
    machine = platform_info.describe()
    want_linux = args.linux in ("yes", "only") or (args.linux == "auto" and machine["platform"] not in ("pvm", "none"))
    out = {"machine": machine, "mib": args.mib, "runs": args.runs}
    peers = [("svcos", run_svcos)] + ([("linux_l2", run_linux)] if want_linux else []) + [("native", run_native)]
    if args.linux == "only":
        peers = [("linux_l2", run_linux)]
    errors = {}
    with tempfile.TemporaryDirectory() as t:
        for key, run in peers:  # a peer that fails is reported, the others are still measured
            try:
                out[key] = run(Path(t), args)
                print(f"net.py: {key}: {json.dumps(out[key])}", file=sys.stderr, flush=True)
            except (RuntimeError, OSError, ConnectionError) as e:
                errors[key] = repr(e)
                print(f"net.py: {key} failed: {e!r}", file=sys.stderr, flush=True)
    if errors:
        out["errors"] = errors

    cols = [("svcos", "svcos (hv)"), ("linux_l2", "Linux L2 (QEMU)"), ("native", "native Linux")]
    cols = [(k, name) for k, name in cols if k in out]
    if not cols:
        sys.exit(f"no peer could be measured: {errors}")
    rows = [("download, guest -> host (MB/s)", "down"), ("upload, host -> guest (MB/s)", "up"),
            ("keep-alive GET /hello (req/s)", "get")]
    ratio = "svcos" in out and "linux_l2" in out
    print(f"{'':32}" + "".join(f"{name:>17}" for _, name in cols) + (f"{'svcos/L2':>10}" if ratio else ""))
    for label, key in rows:
        line = f"{label:32}" + "".join(f"{out[k][key]['median']:17.1f}" for k, _ in cols)
        if ratio:
            line += f"{out['svcos'][key]['median'] / out['linux_l2'][key]['median']:10.2f}"
        print(line)
    print(f"platform: {machine['platform']}; {args.mib} MiB per transfer, median of {args.runs}; "
          "native is over loopback (no VM, no slirp)")
    for key, e in errors.items():
        print(f"{key}: not measured: {e}")
    print("BENCH " + json.dumps({"net": out}, sort_keys=True))


if __name__ == "__main__":
    main()
