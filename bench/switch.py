#!/usr/bin/python3
"""switch.py: VM switch latency benchmark for hv, with QEMU stop/cont over QMP as the peer.

Not a test: it measures and reports; it exits non-zero only if something could not be run
(or, with --strict, if a target is missed).  Stdlib only.  See docs/benchmarks.md.

  make all && python3 bench/switch.py            # 1000 switches each way per scenario
  python3 bench/switch.py --quick                # 200 each way: a smoke run
  python3 bench/switch.py --pin-cpu 1            # plus pinned scenarios (hv --pin-cpu 1)

What is timed (all in microseconds):
  hv internal  switch_to_service / switch_to_guest: hv's own samples (op "stats"), from the
               control request's arrival in op_switch (t0) to the target VM's vCPU thread
               calling KVM_RUN.  guest_freeze: t0 to the guest parked with its state captured.
  e2e socket   one persistent client on the control socket: time.perf_counter_ns() before
               sendall() of the {"op":"switch"} request to after its whole response is read.
  hvctl        the same, but each switch spawns `build/hvctl --socket S switch X` and waits for
               it to exit (fork+exec, dynamic loading, connect, request, response, exit).
  QEMU         qemu-system-x86_64 -accel kvm on a QMP unix socket: one client times the
               {"execute":"stop"} and {"execute":"cont"} round trips the same way.
  C client     the same socket and QMP loops again from build/bench/switch_client (C, jansson):
               what the Python client itself costs (~1 ms a request in the nested machine)
               drops out of both sides alike.
"""
import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import platform_info

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / os.environ.get("VIGIL_BUILD", "build")
GUESTS = ROOT / os.environ.get("VIGIL_GUESTS", "build/guests")  # another tree's, to compare builds
C_CLIENT = BUILD / "bench" / "switch_client"

MAGIC = 0x4C544356
HEADER = struct.Struct("<IHHII")

TARGET_INTERNAL_P99_US = 100.0
TARGET_E2E_P99_US = 1000.0


# ---------------------------------------------------------------- statistics

def percentile(sorted_vals, p):
    """Nearest-rank percentile, the same rule as hv/base/stats.c."""
    if not sorted_vals:
        return None
    rank = math.ceil(p / 100.0 * len(sorted_vals))
    return sorted_vals[max(rank, 1) - 1]


def summary_us(samples_ns):
    s = sorted(x / 1e3 for x in samples_ns)
    if not s:
        return {"count": 0}
    return {"count": len(s), "min_us": s[0], "p50_us": percentile(s, 50), "p90_us": percentile(s, 90),
            "p99_us": percentile(s, 99), "p999_us": percentile(s, 99.9), "max_us": s[-1],
            "mean_us": sum(s) / len(s)}


# ---------------------------------------------------------------- hv control client

def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


class HvClient:
    """A persistent client on hv's control socket (protocol v1: 16-byte header + JSON)."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)

    def call(self, op, **fields):
        body = json.dumps(dict(op=op, **fields)).encode()
        self.sock.sendall(HEADER.pack(MAGIC, 1, 1, len(body), 0) + body)
        magic, version, kind, jlen, dlen = HEADER.unpack(recv_exact(self.sock, HEADER.size))
        if magic != MAGIC or version != 1 or kind != 2:
            raise ConnectionError(f"bad response header {magic:#x}/{version}/{kind}")
        resp = json.loads(recv_exact(self.sock, jlen))
        if dlen:
            recv_exact(self.sock, dlen)
        return resp

    def close(self):
        self.sock.close()


class Hv:
    """hv with its output in log_path, copied to keep_log (if given) when it stops or fails to start."""

    def __init__(self, guest_image, sock_path, log_path, pin_cpu=None, keep_log=None):
        args = [str(BUILD / "hv"), "--control", sock_path, "--service", str(GUESTS / "service-stub.elf"),
                "--guest", str(guest_image), "--autostart-guest"]
        if pin_cpu is not None:
            args += ["--pin-cpu", str(pin_cpu)]
        self.args = args
        self.sock_path = sock_path
        self.log_path = log_path
        self.keep_log = keep_log
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.client = None
        try:
            self._wait_up()
        except Exception:
            if self.client:
                self.client.close()
            self.proc.kill()
            self.proc.wait()
            self._close_log()
            raise

    def _close_log(self):
        self.log.close()
        if self.keep_log:
            shutil.copyfile(self.log_path, self.keep_log)

    def _wait_up(self):
        log_path = self.keep_log or self.log_path
        sock_path = self.sock_path
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hv exited with {self.proc.returncode}; see {log_path}")
            try:
                self.client = HvClient(sock_path)
                break
            except OSError:
                time.sleep(0.02)
        if not self.client:
            raise RuntimeError("hv's control socket never appeared")
        # --autostart-guest: the service VM boots the guest by a switch; wait for it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = self.client.call("status")
            guest = next((v for v in st["vms"] if v["role"] == "guest"), None)
            if st.get("foreground") == "guest" and guest and guest["state"] == "running":
                return
            time.sleep(0.02)
        raise RuntimeError(f"the guest did not come up in the foreground; see {log_path}")

    def switch(self, target):
        t0 = time.perf_counter_ns()
        resp = self.client.call("switch", target=target)
        t1 = time.perf_counter_ns()
        if not resp.get("ok") or resp.get("foreground") != target:
            raise RuntimeError(f"switch {target}: {resp}")
        return t1 - t0, resp.get("switch_us")

    def stats(self, reset=False):
        resp = self.client.call("stats", reset=reset)
        if not resp.get("ok"):
            raise RuntimeError(f"stats: {resp}")
        return {k: resp[k] for k in ("switch_to_guest", "switch_to_service", "guest_freeze")}

    def stop(self):
        try:
            self.client.call("quit")
        except (OSError, ConnectionError):
            pass
        self.client.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._close_log()


def proc_cpu_seconds(pid):
    """utime+stime of a process, from /proc (for a sanity check that a guest really spins)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_fraction(pid, seconds=0.5):
    c0, t0 = proc_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (proc_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def gap(rng, gap_ms):
    """A short, jittered pause between switches so the target vCPU really runs (and the
    switches do not phase-lock with the guests' timers)."""
    if gap_ms > 0:
        time.sleep(rng.uniform(0.5, 1.5) * gap_ms / 1e3)


def run_c_client(args):
    """build/bench/switch_client's samples (ns), or None when it was not built."""
    if not C_CLIENT.exists():
        return None
    p = subprocess.run([str(C_CLIENT)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"switch_client {' '.join(map(str, args))}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def run_hv_scenario(name, image, n, n_hvctl, warmup, gap_ms, pin_cpu, workdir, rng):
    print(f"[{name}] hv --guest {image.name}{f' --pin-cpu {pin_cpu}' if pin_cpu is not None else ''}: "
          f"{warmup} warm-up pairs, {n} socket switches each way, {n_hvctl} hvctl switches each way",
          file=sys.stderr, flush=True)
    sock_path = str(Path(workdir) / f"hv-{name}.sock")
    # hv's terminal (its switch banners) goes to a file in the work folder, copied to build/bench
    # after: in the nested machine build/ is a 9p share, where each write is a round trip to the
    # host (~3 ms), which a real terminal is not.
    log_path = Path(workdir) / f"hv-{name}.log"
    hv = Hv(image, sock_path, log_path, pin_cpu, keep_log=BUILD / "bench" / f"hv-{name}.log")
    try:
        busy = busy_fraction(hv.proc.pid)
        for _ in range(warmup):
            hv.switch("service")
            gap(rng, gap_ms)
            hv.switch("guest")
            gap(rng, gap_ms)

        # 1. Persistent client on the control socket.
        hv.stats(reset=True)
        e2e = {"service": [], "guest": []}
        handler = {"service": [], "guest": []}
        pairs = []
        for _ in range(n):
            a, ha = hv.switch("service")
            gap(rng, gap_ms)
            b, hb = hv.switch("guest")
            gap(rng, gap_ms)
            e2e["service"].append(a)
            e2e["guest"].append(b)
            handler["service"].append(ha * 1e3)
            handler["guest"].append(hb * 1e3)
            pairs.append(a + b)
        internal_socket = hv.stats(reset=True)
        # Baseline: the same client's round trip for an op that does nothing (guest in front).
        hello = []
        for _ in range(max(n // 5, 50)):
            t0 = time.perf_counter_ns()
            if not hv.client.call("hello").get("ok"):
                raise RuntimeError("hello failed")
            hello.append(time.perf_counter_ns() - t0)
            gap(rng, gap_ms / 4)

        # 2. The same from the C client, on a connection of its own.
        c = run_c_client(["hv", sock_path, n, max(n // 5, 50), gap_ms, rng.randrange(1 << 32)])
        internal_c = hv.stats(reset=True)

        # 3. The real hvctl binary, one process per switch.
        hvctl = {"service": [], "guest": []}
        for _ in range(n_hvctl):
            for target in ("service", "guest"):
                cmd = [str(BUILD / "hvctl"), "--socket", sock_path, "switch", target]
                t0 = time.perf_counter_ns()
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                t1 = time.perf_counter_ns()
                if p.returncode != 0:
                    raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()}")
                hvctl[target].append(t1 - t0)
                gap(rng, gap_ms)
        internal_hvctl = hv.stats(reset=True)
    finally:
        hv.stop()
    return {
        "kind": "hv", "guest": image.name, "pin_cpu": pin_cpu, "hv_args": hv.args[1:],
        "hv_process_cpu_fraction_before": round(busy, 3),
        "internal": internal_socket,
        "internal_during_hvctl": internal_hvctl,
        "internal_during_c_client": internal_c if c else None,
        "e2e_socket_c": None if not c else {
            "to_service": summary_us(c["to_service"]), "to_guest": summary_us(c["to_guest"]),
            "pair": summary_us([a + b for a, b in zip(c["to_service"], c["to_guest"])]),
            "hello_baseline": summary_us(c["hello"]),
            "handler_to_service": summary_us(c["handler_to_service"]),
            "handler_to_guest": summary_us(c["handler_to_guest"])},
        "e2e_socket": {"to_service": summary_us(e2e["service"]), "to_guest": summary_us(e2e["guest"]),
                       "all": summary_us(e2e["service"] + e2e["guest"]), "pair": summary_us(pairs),
                       "hello_baseline": summary_us(hello)},
        "hv_handler_switch_us": {"to_service": summary_us(handler["service"]),
                                 "to_guest": summary_us(handler["guest"])},
        "hvctl_spawn": {"to_service": summary_us(hvctl["service"]), "to_guest": summary_us(hvctl["guest"]),
                        "all": summary_us(hvctl["service"] + hvctl["guest"])},
    }


# ---------------------------------------------------------------- QEMU over QMP

def firmware(path, code):
    """A 64 KiB 'BIOS' whose reset vector (0xfffffff0) runs `code`: b'\\xeb\\xfe' (jmp $) spins,
    b'\\xf4\\xeb\\xfd' (hlt; jmp back) idles (IF is clear at reset, so hlt never wakes)."""
    img = bytearray(b"\xf4" * 65536)
    img[0xFFF0:0xFFF0 + len(code)] = code
    Path(path).write_bytes(bytes(img))
    return path


class Qmp:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rb")
        greeting = json.loads(self.f.readline())
        if "QMP" not in greeting:
            raise RuntimeError(f"not a QMP greeting: {greeting}")

    def call(self, cmd):
        self.sock.sendall(json.dumps({"execute": cmd}).encode() + b"\n")
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("QEMU closed QMP")
            msg = json.loads(line)
            if "event" in msg:  # STOP / RESUME events are asynchronous: skip them
                continue
            if "error" in msg:
                raise RuntimeError(f"QMP {cmd}: {msg['error']}")
            return msg["return"]

    def close(self):
        self.f.close()
        self.sock.close()


def qemu_binary():
    return shutil.which("qemu-system-x86_64")


# Some PVM hosts' KVM refuses the IA32_ARCH_CAPABILITIES value QEMU derives for `-cpu host`
# ("failed to set MSR 0x10a"), and QEMU then aborts; without that one feature it runs.
ARCH_CAP_REFUSED = b"failed to set MSR 0x10a"
CPU_FALLBACK = "host,-arch-capabilities"


def run_qemu_scenario(name, spin, n, warmup, gap_ms, pin_cpu, workdir, rng):
    try:
        return qemu_scenario(name, spin, n, warmup, gap_ms, pin_cpu, workdir, rng, "host")
    except (RuntimeError, OSError):
        if ARCH_CAP_REFUSED not in (BUILD / "bench" / f"{name}.log").read_bytes():
            raise
    print(f"[{name}] KVM refused QEMU's ARCH_CAPABILITIES MSR: again with -cpu {CPU_FALLBACK}",
          file=sys.stderr, flush=True)
    return qemu_scenario(name, spin, n, warmup, gap_ms, pin_cpu, workdir, rng, CPU_FALLBACK)


def qemu_scenario(name, spin, n, warmup, gap_ms, pin_cpu, workdir, rng, cpu):
    qemu = qemu_binary()
    print(f"[{name}] {qemu} ({'spinning' if spin else 'halted'} vCPU"
          f"{f', taskset to CPU {pin_cpu}' if pin_cpu is not None else ''}): {n} stop+cont",
          file=sys.stderr, flush=True)
    fw = firmware(Path(workdir) / f"{name}.bin", b"\xeb\xfe" if spin else b"\xf4\xeb\xfd")
    qmp_path = str(Path(workdir) / f"{name}.qmp")
    args = [qemu, "-accel", "kvm", "-machine", "q35", "-cpu", cpu, "-m", "256", "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-S", "-bios", str(fw),
            "-qmp", f"unix:{qmp_path},server=on,wait=off"]
    log = open(BUILD / "bench" / f"{name}.log", "wb")
    pre = (lambda: os.sched_setaffinity(0, {pin_cpu})) if pin_cpu is not None else None
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=pre)
    qmp = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and qmp is None:
            if proc.poll() is not None:
                raise RuntimeError(f"QEMU exited with {proc.returncode}; see {log.name}")
            try:
                qmp = Qmp(qmp_path)
            except OSError:
                time.sleep(0.02)
        if qmp is None:
            raise RuntimeError("QEMU's QMP socket never appeared")
        qmp.call("qmp_capabilities")
        qmp.call("cont")  # -S: it starts stopped
        busy = busy_fraction(proc.pid)
        for _ in range(warmup):
            qmp.call("stop")
            gap(rng, gap_ms)
            qmp.call("cont")
            gap(rng, gap_ms)
        stops, conts, pairs = [], [], []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            qmp.call("stop")
            t1 = time.perf_counter_ns()
            gap(rng, gap_ms)
            t2 = time.perf_counter_ns()
            qmp.call("cont")
            t3 = time.perf_counter_ns()
            gap(rng, gap_ms)
            stops.append(t1 - t0)
            conts.append(t3 - t2)
            pairs.append(t1 - t0 + t3 - t2)
        # The same from the C client: QMP takes one client at a time, so this one steps aside.
        qmp.close()
        qmp = None
        c = run_c_client(["qmp", qmp_path, warmup, n, gap_ms, rng.randrange(1 << 32)])
        qmp = Qmp(qmp_path)
        qmp.call("qmp_capabilities")
        status = qmp.call("query-status")
        if status.get("status") != "running":
            raise RuntimeError(f"QEMU ended in state {status}")
        try:
            qmp.call("quit")
        except (OSError, ConnectionError):
            pass
    finally:
        if qmp:
            qmp.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    return {"kind": "qemu", "vcpu": "spin" if spin else "halted", "pin_cpu": pin_cpu, "args": args[1:],
            "version": subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0],
            "process_cpu_fraction_before": round(busy, 3),
            "stop": summary_us(stops), "cont": summary_us(conts), "stop_cont": summary_us(pairs),
            "c_client": None if not c else {k: summary_us(v) for k, v in c.items()}}


# ---------------------------------------------------------------- report

def load_now():
    """How busy the machine is: the benchmark shares it with whatever else runs."""
    out = {}
    try:
        out["loadavg"] = open("/proc/loadavg").read().split()[:3]
        for line in open("/proc/pressure/cpu"):
            if line.startswith("some"):
                out["cpu_pressure_some_avg10"] = float(line.split()[1].split("=")[1])
    except (OSError, ValueError, IndexError):
        pass
    return out


def machine_info():
    info = dict(platform_info.describe(), python=platform.python_version())  # platform, cpu, kernel
    info["kvm_modules"] = sorted(m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if Path(f"/sys/module/{m}").exists())
    info.update(load_now())
    try:
        info["git_commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                            text=True).stdout.strip()
    except OSError:
        pass
    return info


def verdict(value, target):
    if target is None or value is None:
        return "-"
    return "pass" if value <= target else "FAIL"


def build_rows(result):
    """(metric, p50, p99, count, target, verdict) for the table, plus the pass/fail list."""
    rows, checks = [], []

    def add(metric, s, target=None, target_on="p99"):
        p50, p99 = s.get("p50_us"), s.get("p99_us")
        v = verdict(p99, target)
        rows.append((metric, p50, p99, s.get("count", 0), f"p99<={target:g}" if target else "-", v))
        if target:
            checks.append({"metric": metric, "p99_us": p99, "target_p99_us": target, "pass": v == "pass"})

    for name, sc in result["hv"].items():
        add(f"{name}: hv internal switch_to_service", sc["internal"]["switch_to_service"], TARGET_INTERNAL_P99_US)
        add(f"{name}: hv internal switch_to_guest", sc["internal"]["switch_to_guest"], TARGET_INTERNAL_P99_US)
        add(f"{name}: hv internal guest_freeze", sc["internal"]["guest_freeze"])
        add(f"{name}: hv handler switch_us ->service", sc["hv_handler_switch_us"]["to_service"])
        add(f"{name}: hv handler switch_us ->guest", sc["hv_handler_switch_us"]["to_guest"])
        add(f"{name}: e2e socket ->service", sc["e2e_socket"]["to_service"], TARGET_E2E_P99_US)
        add(f"{name}: e2e socket ->guest", sc["e2e_socket"]["to_guest"], TARGET_E2E_P99_US)
        add(f"{name}: e2e socket pair (->service + ->guest)", sc["e2e_socket"]["pair"])
        add(f"{name}: e2e socket 'hello' (no switch, baseline)", sc["e2e_socket"]["hello_baseline"])
        c = sc.get("e2e_socket_c")
        if c:
            ic = sc["internal_during_c_client"]
            add(f"{name}: hv internal switch_to_service (C client)", ic["switch_to_service"])
            add(f"{name}: hv internal switch_to_guest (C client)", ic["switch_to_guest"])
            add(f"{name}: e2e C client ->service", c["to_service"], TARGET_E2E_P99_US)
            add(f"{name}: e2e C client ->guest", c["to_guest"], TARGET_E2E_P99_US)
            add(f"{name}: e2e C client pair", c["pair"])
            add(f"{name}: e2e C client 'hello' (baseline)", c["hello_baseline"])
        add(f"{name}: hvctl incl. process spawn ->service", sc["hvctl_spawn"]["to_service"], TARGET_E2E_P99_US)
        add(f"{name}: hvctl incl. process spawn ->guest", sc["hvctl_spawn"]["to_guest"], TARGET_E2E_P99_US)
    for name, sc in result["qemu"].items():
        add(f"{name}: QMP stop", sc["stop"])
        add(f"{name}: QMP cont", sc["cont"])
        add(f"{name}: QMP stop+cont", sc["stop_cont"])
        if sc.get("c_client"):
            add(f"{name}: QMP C client stop", sc["c_client"]["stop"])
            add(f"{name}: QMP C client cont", sc["c_client"]["cont"])
            add(f"{name}: QMP C client stop+cont", sc["c_client"]["stop_cont"])
    return rows, checks


def ratios(result):
    """hv end-to-end (socket) vs the QEMU peer with the same kind of vCPU and pinning."""
    out = {}
    for hname, h in result["hv"].items():
        want = "spin" if "spin" in h["guest"] else "halted"
        q = next((q for qn, q in result["qemu"].items() if q["vcpu"] == want and q["pin_cpu"] == h["pin_cpu"]), None)
        if not q:
            continue
        qname = next(qn for qn, qq in result["qemu"].items() if qq is q)

        def r(a, b):
            return round(a / b, 3) if a and b else None

        e = h["e2e_socket"]
        out[hname] = {
            "peer": qname,
            "pair_p50": r(e["pair"]["p50_us"], q["stop_cont"]["p50_us"]),
            "pair_p99": r(e["pair"]["p99_us"], q["stop_cont"]["p99_us"]),
            "to_service_vs_stop_p50": r(e["to_service"]["p50_us"], q["stop"]["p50_us"]),
            "to_service_vs_stop_p99": r(e["to_service"]["p99_us"], q["stop"]["p99_us"]),
            "to_guest_vs_cont_p50": r(e["to_guest"]["p50_us"], q["cont"]["p50_us"]),
            "to_guest_vs_cont_p99": r(e["to_guest"]["p99_us"], q["cont"]["p99_us"]),
        }
        c, qc = h.get("e2e_socket_c"), q.get("c_client")
        if c and qc:
            i = h["internal_during_c_client"]
            for pct in ("p50", "p99"):
                out[hname][f"c_pair_{pct}"] = r(c["pair"][f"{pct}_us"], qc["stop_cont"][f"{pct}_us"])
                out[hname][f"c_to_service_vs_stop_{pct}"] = r(c["to_service"][f"{pct}_us"], qc["stop"][f"{pct}_us"])
                out[hname][f"c_to_guest_vs_cont_{pct}"] = r(c["to_guest"][f"{pct}_us"], qc["cont"][f"{pct}_us"])
                # hv's in-process trigger -> target executing against QEMU's fastest observable stop/cont
                out[hname][f"internal_to_service_vs_c_stop_{pct}"] = r(i["switch_to_service"].get(f"{pct}_us"),
                                                                       qc["stop"][f"{pct}_us"])
                out[hname][f"internal_to_guest_vs_c_cont_{pct}"] = r(i["switch_to_guest"].get(f"{pct}_us"),
                                                                     qc["cont"][f"{pct}_us"])
    return out


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def print_table(rows, ratio):
    w = max(len(r[0]) for r in rows)
    print(f"{'metric':<{w}}  {'p50 us':>9}  {'p99 us':>9}  {'count':>6}  {'target':>12}  result")
    print("-" * (w + 50))
    for m, p50, p99, n, target, v in rows:
        print(f"{m:<{w}}  {fmt(p50):>9}  {fmt(p99):>9}  {n:>6}  {target:>12}  {v}")
    if ratio:
        print()
        print("hv e2e (socket) / QEMU (QMP), <1 means hv is faster:")
        print(f"{'scenario':<14} {'peer':<14} {'pair p50':>9} {'pair p99':>9} "
              f"{'->svc/stop p50':>15} {'->svc/stop p99':>15} {'->gst/cont p50':>15} {'->gst/cont p99':>15}")
        for n, r in ratio.items():
            keys = ("pair_p50", "pair_p99", "to_service_vs_stop_p50", "to_service_vs_stop_p99",
                    "to_guest_vs_cont_p50", "to_guest_vs_cont_p99")
            w = (9, 9, 15, 15, 15, 15)
            print(f"{n:<14} {r['peer']:<14} " + " ".join(f"{fmt(r[k], 2):>{wi}}" for k, wi in zip(keys, w)))
        if any("c_pair_p50" in r for r in ratio.values()):
            print()
            print("The same with the C client on both sides, and hv internal (trigger -> target executing,"
                  " during the C client) / QEMU C client stop (->service) and cont (->guest):")
            print(f"{'scenario':<14} {'peer':<14} {'pair p50':>9} {'pair p99':>9} "
                  f"{'->svc/stop p50':>15} {'->svc/stop p99':>15} {'->gst/cont p50':>15} {'->gst/cont p99':>15}"
                  f" {'int svc p50':>12} {'int svc p99':>12} {'int gst p50':>12} {'int gst p99':>12}")
            for n, r in ratio.items():
                if "c_pair_p50" not in r:
                    continue
                keys = ("c_pair_p50", "c_pair_p99", "c_to_service_vs_stop_p50", "c_to_service_vs_stop_p99",
                        "c_to_guest_vs_cont_p50", "c_to_guest_vs_cont_p99",
                        "internal_to_service_vs_c_stop_p50", "internal_to_service_vs_c_stop_p99",
                        "internal_to_guest_vs_c_cont_p50", "internal_to_guest_vs_c_cont_p99")
                w = (9, 9, 15, 15, 15, 15, 12, 12, 12, 12)
                print(f"{n:<14} {r['peer']:<14} " + " ".join(f"{fmt(r[k], 2):>{wi}}" for k, wi in zip(keys, w)))


def main():
    ap = argparse.ArgumentParser(description="VM switch latency: hv vs QEMU stop/cont (see docs/benchmarks.md)")
    ap.add_argument("--quick", action="store_true", help="200 switches each way (smoke run)")
    ap.add_argument("--switches", type=int, help="socket switches each way per scenario (default 1000)")
    ap.add_argument("--hvctl-switches", type=int, help="hvctl switches each way per scenario (default 200; quick 100)")
    ap.add_argument("--qemu-ops", type=int, help="QEMU stop+cont pairs per scenario (default = --switches)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured switch pairs first (default 20)")
    ap.add_argument("--gap-ms", type=float, default=1.0,
                    help="mean pause between switches, jittered +-50%% (default 1 ms; 0 = back to back)")
    ap.add_argument("--pin-cpu", type=int, metavar="N",
                    help="extra scenarios: hv --pin-cpu N (and QEMU confined to CPU N)")
    ap.add_argument("--no-qemu", action="store_true", help="skip the QEMU peer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(BUILD / "bench" / "switch.json"), help="JSON result path")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    a = ap.parse_args()

    n = a.switches or (200 if a.quick else 1000)
    n_hvctl = a.hvctl_switches or (100 if a.quick else 200)
    n_qemu = a.qemu_ops or n
    for f in (BUILD / "hv", BUILD / "hvctl", GUESTS / "service-stub.elf", GUESTS / "test-spin.elf",
              GUESTS / "demo.elf"):
        if not f.exists():
            sys.exit(f"switch.py: {f} is missing: run `make all` first")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("switch.py: /dev/kvm is not usable here")
    if a.pin_cpu is not None and a.pin_cpu not in os.sched_getaffinity(0):
        sys.exit(f"switch.py: --pin-cpu {a.pin_cpu}: not a CPU this process may use")
    (BUILD / "bench").mkdir(parents=True, exist_ok=True)
    rng = random.Random(a.seed)

    hv_scen = [("spin", GUESTS / "test-spin.elf", None), ("idle", GUESTS / "demo.elf", None)]
    q_scen = [("qemu-spin", True, None), ("qemu-idle", False, None)]
    if a.pin_cpu is not None:
        hv_scen += [(f"spin-pin{a.pin_cpu}", GUESTS / "test-spin.elf", a.pin_cpu),
                    (f"idle-pin{a.pin_cpu}", GUESTS / "demo.elf", a.pin_cpu)]
        q_scen += [(f"qemu-spin-pin{a.pin_cpu}", True, a.pin_cpu), (f"qemu-idle-pin{a.pin_cpu}", False, a.pin_cpu)]

    result = {"benchmark": "vm-switch-latency", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "machine": machine_info(),
              "params": {"switches_each_way": n, "hvctl_switches_each_way": n_hvctl, "qemu_stop_cont": n_qemu,
                         "warmup_pairs": a.warmup, "gap_ms": a.gap_ms, "pin_cpu": a.pin_cpu, "quick": a.quick,
                         "seed": a.seed},
              "targets": {"hv_internal_p99_us": TARGET_INTERNAL_P99_US, "e2e_p99_us": TARGET_E2E_P99_US},
              "hv": {}, "qemu": {}}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as work:
        for name, image, pin in hv_scen:
            result["hv"][name] = run_hv_scenario(name, image, n, n_hvctl, a.warmup, a.gap_ms, pin, work, rng)
        if a.no_qemu:
            result["qemu_skipped"] = "--no-qemu"
        elif not qemu_binary():
            result["qemu_skipped"] = "qemu-system-x86_64 not found (apt-get install -y qemu-system-x86)"
            print(f"switch.py: {result['qemu_skipped']}; no peer numbers", file=sys.stderr)
        else:
            for name, spin, pin in q_scen:
                result["qemu"][name] = run_qemu_scenario(name, spin, n_qemu, a.warmup, a.gap_ms, pin, work, rng)

    rows, checks = build_rows(result)
    result["ratios_hv_e2e_over_qemu"] = ratios(result)
    result["checks"] = checks
    result["all_targets_met"] = all(c["pass"] for c in checks)
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result["load_at_end"] = load_now()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")

    print()
    print_table(rows, result["ratios_hv_e2e_over_qemu"])
    print()
    print(json.dumps(result, indent=2))
    print(f"\nwritten: {a.out}", file=sys.stderr)
    return 1 if a.strict and not result["all_targets_met"] else 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
