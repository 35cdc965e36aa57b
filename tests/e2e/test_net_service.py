"""test_net_service.py: real traffic from the host through hv's slirp port forward into the service
VM (svcos, lwIP, libmicrohttpd: the self-test's --mode serve): many connections leave no
descriptors behind in the VM or in hv, 256 MiB each way arrive intact, a peer resetting
mid-transfer disturbs nobody else, and the forward works again after the service VM restarts."""
import hashlib
import json
import os
import socket
import struct
import threading
import time

import pytest

from vigil import ROOT, scaled

SELFTEST = ROOT / "build" / "svcos" / "selftest.elf"
# What st_serve.c's /bulk repeats: SHA-256("svcos-net <i>") for i = 0..2047.
BLOCK = b"".join(hashlib.sha256(b"svcos-net %d" % i).digest() for i in range(2048))
# What a leak in the service VM would show (st_serve.c's /stats counts them during the request).
COUNTS = ("fds", "sockets", "tcp_pcbs", "tcp_segs", "heap_blocks", "pbuf_ref")


@pytest.fixture
def serve(start_hv):
    """The service VM serving HTTP on its port 8080, forwarded from a free host port."""
    if not SELFTEST.exists():
        pytest.skip("the svcos self-test image is not built (make svcos-selftest)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hv = start_hv("--service", str(SELFTEST), "--mem", "128", "--cmdline", "--mode serve",
                  "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8080")
    hv.wait_console("service", "serve: ready 10.0.2.15 port 8080", timeout=30)
    hv.port = port
    return hv


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(30))
    s.settimeout(scaled(30))
    return s


def read_response(s):
    """One HTTP/1.1 response with a Content-Length: (status, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before the headers: {buf!r}"
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    length = next(int(h.split(":", 1)[1]) for h in lines[1:] if h.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = s.recv(min(1 << 20, length - len(body)))
        assert chunk, f"connection closed after {len(body)} of {length} bytes"
        body += chunk
    return int(lines[0].split()[1]), body


def finish(s):
    """Reads the server's close, then closes: the server closes first, as it does after an answer
    with Connection: close (else slirp holds the host socket through its 10 s TIME_WAIT)."""
    assert s.recv(1) == b"", "data after the answer"
    s.close()


def get(port, path):
    with connect(port) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: vigil\r\nConnection: close\r\n\r\n".encode())
        status, body = read_response(s)
        finish(s)
    assert status == 200, (path, status, body)
    return body


def stats(port):
    return json.loads(get(port, "/stats"))


def hv_fds(hv):
    return len(os.listdir(f"/proc/{hv.proc.pid}/fd"))


def settled(hv, base_stats, base_fds, what):
    """Waits until the service VM's counts are back where they were and hv holds no more
    descriptors than it did."""
    def back():
        now = stats(hv.port)
        return all(now[k] == base_stats[k] for k in COUNTS) and hv_fds(hv) <= base_fds
    try:
        hv.wait_for(back, timeout=30, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: service VM {stats(hv.port)} (was {base_stats}), "
                             f"hv fds {hv_fds(hv)} (was {base_fds})") from None


def baseline(hv):
    """The service VM's counts (during a request) and hv's descriptors (once steady)."""
    get(hv.port, "/hello")  # slirp and MHD set up what they keep on first use
    base = stats(hv.port)
    seen = [hv_fds(hv)]
    while len(seen) < 10 or len(set(seen[-10:])) > 1:  # the same count for 0.2 s
        time.sleep(0.02)
        seen.append(hv_fds(hv))
    return base, seen[-1]


def reset(s):
    """Closes with a TCP reset (SO_LINGER {1, 0}), as a peer that vanishes mid-transfer."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_1000_sequential_and_100_concurrent_connections_leave_no_descriptors(serve):
    base, base_fds = baseline(serve)
    assert base["fds"] >= 5 and base["sockets"] >= 2, base  # stdio, the listener, this request
    for i in range(1000):
        assert get(serve.port, f"/hello?n={i}") == b"hello from svcos\n"
    settled(serve, base, base_fds, "after 1,000 sequential connections")

    conns = [connect(serve.port) for _ in range(100)]
    # All 100 open at once: the server's count says so (it is honest), and so does hv's.
    serve.wait_for(lambda: stats(serve.port)["fds"] == base["fds"] + 100, timeout=10,
                   what="100 accepted connections counted in the service VM")
    assert hv_fds(serve) >= base_fds + 100
    for i, s in enumerate(conns):
        s.sendall(f"GET /hello?c={i} HTTP/1.1\r\nHost: vigil\r\nConnection: close\r\n\r\n".encode())
    for s in conns:
        assert read_response(s) == (200, b"hello from svcos\n")
    for s in conns:
        finish(s)
    settled(serve, base, base_fds, "after 100 concurrent connections")


def test_256_mib_each_way_with_matching_sha256(serve):
    mib = 256
    want = hashlib.sha256()
    for _ in range(mib * 16):
        want.update(BLOCK)
    got, n = hashlib.sha256(), 0
    with connect(serve.port) as s:
        s.sendall(f"GET /bulk?mb={mib} HTTP/1.1\r\nHost: vigil\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, rest = head.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: %d" % (mib << 20) in head, head
        got.update(rest)
        n = len(rest)
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got.update(chunk)
            n += len(chunk)
    assert n == mib << 20 and got.hexdigest() == want.hexdigest(), f"download: {n} bytes"

    data = bytes(reversed(BLOCK)) * 256  # 16 MiB, sent 16 times
    up = hashlib.sha256()
    with connect(serve.port) as s:
        s.sendall(f"POST /sink HTTP/1.1\r\nHost: vigil\r\nContent-Length: {mib << 20}\r\n"
                  "Connection: close\r\n\r\n".encode())
        for _ in range(mib // 16):
            s.sendall(data)
            up.update(data)
        status, body = read_response(s)
    assert status == 200 and json.loads(body) == {"bytes": mib << 20, "sha256": up.hexdigest()}, body


def test_a_peer_resetting_mid_transfer_leaves_the_others_served(serve):
    base, base_fds = baseline(serve)
    # Another client's download runs throughout.
    other = {}

    def download():
        with connect(serve.port) as s:
            s.sendall(b"GET /bulk?mb=16 HTTP/1.1\r\nHost: vigil\r\nConnection: close\r\n\r\n")
            other["result"] = read_response(s)
            finish(s)

    t = threading.Thread(target=download)
    t.start()
    # A download and an upload that stop with a reset after 8 MiB.
    down = connect(serve.port)
    down.sendall(b"GET /bulk?mb=1024 HTTP/1.1\r\nHost: vigil\r\n\r\n")
    n = 0
    while n < 8 << 20:
        chunk = down.recv(1 << 20)
        assert chunk, "the server closed the download"
        n += len(chunk)
    up = connect(serve.port)
    up.sendall(b"POST /sink HTTP/1.1\r\nHost: vigil\r\nContent-Length: 1073741824\r\n\r\n")
    up.sendall(bytes(8 << 20))
    reset(down)
    reset(up)
    t.join(scaled(60))
    assert not t.is_alive(), "the other client's download did not finish"
    status, body = other["result"]
    assert status == 200 and body == BLOCK * 256, f"the other download: {status}, {len(body)} bytes"
    assert get(serve.port, "/hello") == b"hello from svcos\n"
    settled(serve, base, base_fds, "after two resets mid-transfer")


def test_the_forward_works_again_after_the_service_vm_restarts(serve):
    base, base_fds = baseline(serve)
    assert get(serve.port, "/crash") == b"crashing\n"  # then a write through NULL
    serve.wait_for(lambda: serve.status()["service_restarts"] == 1, timeout=30, what="service restart")
    sel = [(e["Oem"]["Vigil"]["VM"], e["Message"]) for e in serve.ok("sel")["entries"]]
    assert any(vm == "service" and "#PF" in m for vm, m in sel), sel

    def answers():
        try:
            return get(serve.port, "/hello") == b"hello from svcos\n"
        except (OSError, AssertionError):
            return False
    # The same host port, the same card and backend, a new VM behind them (DHCP again).
    serve.wait_for(answers, timeout=30, what="the forward answering after the restart")
    assert get(serve.port, "/bulk?mb=4") == BLOCK * 64
    assert serve.vm("service")["state"] == "running"
    # hv holds no more descriptors than before the crash (the core's file is closed, also after
    # its digest), and the new VM's counts are the old one's.
    new, _ = baseline(serve)
    assert all(new[k] == base[k] for k in COUNTS), (new, base)
    serve.wait_for(lambda: hv_fds(serve) <= base_fds, timeout=30, what=f"hv's fds back to {base_fds}")
