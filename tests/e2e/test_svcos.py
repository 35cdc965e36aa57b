"""test_svcos.py: the svcos self-test image boots under hv (devirtualized) and every check passes inside the VM."""
import hashlib
import json
import socket
import subprocess
import time
import urllib.request

import pytest

from vigil import ROOT, SLOWDOWN, run_alone, scaled

SELFTEST = ROOT / "build" / "svcos" / "selftest.elf"
NET_CHECKS = {"tcp", "tcp_bulk", "tcp_edge", "udp", "http_tcp", "nic"}
CHECKS = {"malloc", "cpio", "ramfs", "fds", "clock", "random", "jansson", "tls", "http"} | NET_CHECKS


def sysroot_built():
    try:
        prefix = subprocess.run([str(ROOT / "svcos" / "sysroot" / "build.sh"), "--print-prefix"],
                                capture_output=True, text=True, timeout=scaled(120)).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(prefix) and (ROOT.joinpath(prefix) / ".vigil-sysroot-complete").exists()


@pytest.fixture(scope="module")
def image():
    if not SELFTEST.exists():
        if not sysroot_built():
            pytest.skip("the svcos sysroot is not built (svcos/sysroot/build.sh, or make test, builds it)")
        pytest.fail(f"{SELFTEST} is missing although the sysroot is built: run make svcos-selftest")
    return str(SELFTEST)


def result_line(out):
    lines = [line for line in out.splitlines() if line.startswith("SELFTEST ")]
    assert len(lines) == 1, f"expected exactly one SELFTEST line:\n{out}"
    return json.loads(lines[0][len("SELFTEST "):])


def test_selftest_passes_every_check(tmp_path, image):
    status, out = run_alone(tmp_path, image, "--mem", "128", timeout=120)
    res = result_line(out)
    failed = {k: res["errors"].get(k, "") for k, ok in res["checks"].items() if not ok}
    assert not failed, f"failed checks: {failed}\n{out}"
    assert set(res["checks"]) == CHECKS and res["ok"] is True
    assert status == 0, out
    assert res["stats"]["svcos"] is True  # it ran on svcos, not natively
    assert res["stats"]["clock_skew_ms"] < 50
    assert "guest: halted with status 0" in out


def test_network_checks_over_lwip_loopback(tmp_path, image):
    # TCP (1,000 sequential and 100 concurrent echoes, 64 MiB each way with SHA-256, resets,
    # backpressure, options), UDP, libmicrohttpd on a real socket and the NIC interface, each
    # ending with descriptors, pbufs and PCBs back where it started; in a 32 MiB VM.
    status, out = run_alone(tmp_path, image, "--mem", "32", "--cmdline",
                            "--only " + ",".join(sorted(NET_CHECKS)), timeout=120)
    res = result_line(out)
    failed = {k: res["errors"].get(k, "") for k, ok in res["checks"].items() if not ok}
    assert not failed and set(res["checks"]) == NET_CHECKS and status == 0, f"{failed}\n{out}"
    # Speed is a benchmark's business, not a test's (a loaded host would make it flaky): shown only.
    print(f"lwIP loopback TCP: {res['stats']['tcp_mb_per_s']:.0f} MB/s (SLOWDOWN {SLOWDOWN})")
    assert "lwip: assertion" not in out and "unimplemented system call" not in out, out


def test_network_configuration_from_the_command_line(tmp_path, image):
    # dns= reaches musl's resolver through /etc/resolv.conf; /etc/hosts knows localhost.
    status, out = run_alone(tmp_path, image, "--mem", "32", "--cmdline",
                            "ip=10.0.2.15/24 gw=10.0.2.2 dns=10.0.2.3,10.0.2.4 --mode netinfo")
    assert status == 0, out
    assert "nameserver 10.0.2.3\nnameserver 10.0.2.4\n" in out and "127.0.0.1\tlocalhost" in out, out
    assert "netstack:" not in out, out  # a valid configuration is not worth a word
    # A bad one is refused with the reason, and the program runs anyway.
    status, out = run_alone(tmp_path, image, "--mem", "32", "--cmdline", "ip=10.0.2.15 --mode netinfo")
    assert status == 0 and "netstack: ip=10.0.2.15: give the prefix length" in out, out
    assert "/etc/resolv.conf: (none)" in out, out


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_block():
    # What st_serve.c's /bulk repeats: SHA-256("svcos-net <i>") for i = 0..2047.
    return b"".join(hashlib.sha256(b"svcos-net %d" % i).digest() for i in range(2048))


def test_http_over_the_virtio_net_card_both_ways(start_hv, image):
    # The whole path: host -> hv's slirp port forward -> virtio-net -> svcos's driver -> lwIP ->
    # libmicrohttpd, after DHCP from slirp; 32 MiB each way, checked on both ends.
    port = _free_port()
    hv = start_hv("--no-service", "--guest", image, "--mem", "128", "--cmdline", "--mode serve",
                  "--net", f"user,restrict=off,hostfwd=tcp:127.0.0.1:{port}-:8080")
    hv.wait_console("guest", "serve: ready 10.0.2.15 port 8080", timeout=scaled(30))
    assert "netstack: en1 10.0.2.15/24 gw 10.0.2.2 (dhcp)" in hv.output()
    url = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(url + "/hello", timeout=scaled(10)) as r:
        assert r.read() == b"hello from svcos\n"
    block, mib = _serve_block(), 32
    t0 = time.monotonic()
    with urllib.request.urlopen(f"{url}/bulk?mb={mib}", timeout=scaled(60)) as r:
        got = r.read()
    down = len(got) / (time.monotonic() - t0) / 1e6
    assert got == block * (mib * 16), f"download: {len(got)} bytes, content differs"
    data = bytes(reversed(block)) * (mib * 16)
    t0 = time.monotonic()
    req = urllib.request.Request(url + "/sink", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=scaled(60)) as r:
        res = json.loads(r.read())
    up = len(data) / (time.monotonic() - t0) / 1e6
    assert res == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, res
    with urllib.request.urlopen(url + "/quit", timeout=scaled(10)) as r:
        assert r.read() == b"bye\n"
    hv.proc.wait(scaled(10))  # devirtualized: hv exits with the guest's status
    out = hv.output()
    assert hv.proc.returncode == 0 and "serve: done" in out, out
    assert "lwip: assertion" not in out and "NEEDS_RESET" not in out, out
    print(f"virtio-net over slirp: {down:.0f} MB/s down, {up:.0f} MB/s up")


def test_selftest_with_more_vcpus_and_a_command_line(tmp_path, image):
    # Secondary vCPUs must park; arguments after the program name reach main().
    status, out = run_alone(tmp_path, image, "--mem", "64", "--vcpus", "2",
                            "--cmdline", "svcos.stack_kib=2048 --only cpio,clock,fds", timeout=120)
    res = result_line(out)
    assert status == 0 and res["ok"] and set(res["checks"]) == {"cpio", "clock", "fds"}, out
    assert "unimplemented system call" not in out, out


def test_console_input_reaches_a_blocking_read(start_hv, image):
    hv = start_hv("--no-service", "--guest", image, "--mem", "32", "--cmdline", "--mode echo")
    hv.wait_console("guest", "echo: ready")
    hv.type("guest", "over the console\n")
    hv.proc.wait(10)  # devirtualized: hv exits with the guest's halt status
    assert hv.proc.returncode == 0 and "echo: over the console" in hv.output(), hv.output()


def test_abort_halts_with_the_signal_status(tmp_path, image):
    status, out = run_alone(tmp_path, image, "--mem", "32", "--cmdline", "--mode abort")
    assert status == 128 + 6 and "killed by signal 6" in out, out


def test_a_deadlock_stops_the_vm_with_a_message(tmp_path, image):
    status, out = run_alone(tmp_path, image, "--mem", "32", "--cmdline", "--mode deadlock", timeout=20)
    assert status == 4 and "deadlock: pipe waits forever" in out, out


def test_unknown_system_calls_are_logged_once_per_number(tmp_path, image):
    status, out = run_alone(tmp_path, image, "--mem", "32", "--cmdline", "--mode enosys")
    assert status == 0 and "enosys: -1 -1 -1" in out, out
    assert out.count("unimplemented system call 333") == 1, out
    assert out.count("unimplemented system call 100000") == 1, out


def test_selftest_with_ram_above_4_gib(tmp_path, image):
    # Stacks and mmap memory then lie above 4 GiB, where hypercall arguments must not.
    status, out = run_alone(tmp_path, image, "--mem", "4400", "--cmdline", "--only malloc,tls", timeout=120)
    assert status == 0 and result_line(out)["ok"], out


def test_a_fault_in_svcos_is_reported_with_its_registers(start_hv, image):
    # As the service VM: its exception handler reports the fault, so the contained crash's
    # core holds the faulting state (on AMD SVM too, where a triple fault's is lost).
    hv = start_hv("--service", image, "--mem", "64", "--cmdline", "--mode fault")
    hv.wait_console("service", "fault: ready", timeout=30)
    hv.type("service", "now\n")
    hv.wait_for(lambda: hv.status()["service_restarts"] == 1, what="service restart", timeout=30)
    hv.wait_for(lambda: hv.ok("snapshot.list")["snapshots"], what="service core", timeout=30)
    snap = hv.ok("snapshot.list")["snapshots"][0]
    assert snap["vm"] == "service" and snap["registers_from"] == "fault_report", snap
    assert snap["fault"] == {"vector": 14, "name": "#PF", "error_code": "0x6", "cr2": "0x0"}
    rip = snap["registers"]["rip"]
    where = subprocess.run(["addr2line", "-f", "-e", image, rip], capture_output=True, text=True).stdout
    assert where.splitlines()[0] == "run_mode", where
    hv.wait_console("service", "fault: ready", timeout=30)  # booted again, waiting as before
