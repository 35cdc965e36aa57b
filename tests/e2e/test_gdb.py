"""test_gdb.py: the real gdb attached to hv's GDB stub (docs/gdb-stub.md): registers and memory
of the stopped demo guest, a breakpoint that hits, three single steps, and the guest running on."""
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from vigil import HVCTL, frame, guest, read_response, scaled

DEMO = guest("demo.elf")
GDB = shutil.which("gdb")
ON_PVM = Path("/sys/module/kvm_pvm").exists() and os.environ.get("VIGIL_KVM_INSIDE") != "1"
needs_guest_debug = pytest.mark.skipif(
    ON_PVM, reason="PVM accepts KVM_SET_GUEST_DEBUG but gives the guest the #DB and #BP instead "
    "of KVM_EXIT_DEBUG (docs/platforms.md); the nested machine runs this test "
    "(VIGIL_KVM=vm scripts/vigil-kvm -- python3 -m pytest tests/e2e/test_gdb.py)")
needs_gdb = pytest.mark.skipif(not GDB, reason="no gdb (scripts/deps.sh installs it)")


def start(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", DEMO, "--autostart-guest",
                  "--cmdline", "heartbeat_ms=5")
    hv.wait_console("guest", "demo>")
    r = hv.ok("gdb.start", vm="guest")
    assert r["socket"].endswith("gdb-guest.sock") and os.stat(r["socket"]).st_mode & 0o077 == 0
    return hv, r["socket"]


def gdb(sock, *commands, timeout=60):
    args = [GDB, "-nx", "-batch", str(DEMO), "-ex", "set pagination off", "-ex", f"target remote {sock}"]
    for c in commands:
        args += ["-ex", c]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def peek(hv, addr, n, virtual=False):
    hv.conn.sendall(frame({"op": "peek", "vm": "guest", "addr": addr, "len": n, "virtual": virtual}))
    resp, data = read_response(hv.conn)
    assert resp["ok"], resp
    return data


def finish(p, timeout):
    out, _ = p.communicate(timeout=scaled(timeout))
    return out


def rips(text):
    return [int(m, 16) for m in re.findall(r"^rip\s+0x([0-9a-f]+)", text, re.M)]


@needs_gdb
def test_gdb_reads_a_paused_guest_like_hvctl(start_hv):
    """Registers and memory through gdb agree with hvctl regs and peek (virtual addresses)."""
    hv, sock = start(start_hv)
    hv.ok("pause", vm="guest")
    regs = hv.ok("regs", vm="guest")["vcpus"][0]
    phys = peek(hv, 0x100000, 16, virtual=True)
    out = finish(gdb(sock, "info registers rip rsp rbx", "x/16xb 0x100000", "print heartbeat_count"), 60)
    assert re.search(rf"^rip\s+{hex(regs['rip'])}\b", out, re.M), out
    assert re.search(rf"^rsp\s+{hex(regs['rsp'])}\b", out, re.M), out
    assert re.search(rf"^rbx\s+{hex(regs['rbx'])}\b", out, re.M), out
    got = bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})\b", out.split("0x100000 <_start>:")[1])[:16])
    assert got == phys, out
    assert re.search(r"\$1 = \d+", out), out
    assert hv.vm("guest")["state"] == "paused"  # gdb's detach leaves an operator's pause alone
    hv.ok("resume", vm="guest")


@needs_gdb
@needs_guest_debug
def test_breakpoint_steps_and_the_guest_runs_on(start_hv):
    hv, sock = start(start_hv)
    hv.ok("switch", target="service")  # frozen: gdb attaches to the guest as a switch left it
    p = gdb(sock, "info registers rip", "break *rt_monotonic_ns", "continue", "info registers rip",
            "stepi", "info registers rip", "stepi", "info registers rip", "stepi",
            "info registers rip", "delete", "continue")
    # The last continue never returns: the guest runs on until gdb goes away.
    beats = hv.vm("guest")["heartbeats"]
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 20, timeout=scaled(60),
                what="heartbeats after gdb's last continue")
    assert hv.vm("guest")["state"] == "running"
    p.kill()
    out, _ = p.communicate(timeout=scaled(10))
    assert "Breakpoint 1, " in out and "rt_monotonic_ns" in out, out
    r = rips(out)
    assert len(r) == 5, out
    bp = int(re.search(r"Breakpoint 1 at 0x([0-9a-f]+)", out).group(1), 16)
    assert r[1] == bp  # stopped at the breakpoint's address, not one past the int3
    assert r[1] != r[2] != r[3] != r[4]  # each step moved rip
    # gdb gone: no breakpoint is left in the guest, which keeps running and beating.
    beats = hv.vm("guest")["heartbeats"]
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 20, timeout=scaled(30),
                what="heartbeats after gdb went away")
    assert hv.vm("guest")["state"] == "running"
    assert peek(hv, bp, 1) != b"\xcc"


@needs_gdb
@needs_guest_debug
def test_hardware_breakpoint_hits(start_hv):
    hv, sock = start(start_hv)
    out = finish(gdb(sock, "hbreak *rt_monotonic_ns", "continue", "info registers rip", "delete",
                     "detach"), 60)
    assert "Hardware assisted breakpoint 1" in out and "rt_monotonic_ns" in out, out
    assert rips(out), out
    beats = hv.vm("guest")["heartbeats"]  # gdb paused it on attach: detach lets it run
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 5, timeout=scaled(30),
                what="heartbeats after detach")


def raw(sock_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(scaled(10))
    s.connect(sock_path)
    return s


def packet(payload):
    return b"$%s#%02x" % (payload, sum(payload) & 0xff)


def read_reply(s):
    buf = b""
    while not re.search(rb"\$([^#]*)#[0-9a-f]{2}", buf):
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    return re.search(rb"\$([^#]*)#[0-9a-f]{2}", buf).group(1)


def test_hostile_client_gets_errors_and_hv_keeps_running(start_hv):
    hv, sock = start(start_hv)
    s = raw(sock)
    s.sendall(bytes(range(256)) * 8)  # garbage: no packet in it, no reply needed
    s.sendall(b"$g#00")  # bad checksum
    s.sendall(b"$" + b"m" * 100000 + b"#00")  # far past PacketSize, bad checksum as well
    big = b"M100000,1:" + b"00" * 5000
    s.sendall(packet(big))
    assert read_reply(s) == b"E07"  # too large
    for bad, want in [(b"m100000", b"E01"), (b"mffffffffffffffff,10", b"E01"),
                      (b"m10000000000000000,1", b"E01"), (b"p999", b"E16"), (b"Hg99", b"E16"),
                      (b"m4000000000,4", b"E0e"), (b"Zz", b"E01"), (b"vCont;q", b"E01"),
                      (b"qNoSuchThing", b""), (b"\xff\xfe", b"")]:
        s.sendall(packet(bad))
        assert read_reply(s) == want, bad
    s.sendall(packet(b"qSupported"))
    assert b"PacketSize=1000" in read_reply(s)
    second = raw(sock)  # one debugger at a time
    assert b"E10" in second.recv(64)
    second.close()
    s.close()
    assert hv.proc.poll() is None
    hv.ok("status")
    p = subprocess.run([str(HVCTL), "--socket", hv.sock_path, "gdb", "guest"], capture_output=True,
                       text=True, timeout=scaled(10))
    assert p.returncode == 0 and sock in p.stdout
    beats = hv.vm("guest")["heartbeats"]  # the attach paused it; the hang-up let it go
    hv.wait_for(lambda: hv.vm("guest")["heartbeats"] > beats + 5, timeout=scaled(30),
                what="heartbeats after the hostile client")
