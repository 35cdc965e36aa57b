"""test_control.py: malformed control requests get precise errors and hv keeps running."""
import json
import socket
import struct

from vigil import HEADER, MAGIC, frame, guest, read_response


def connect(hv):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(hv.sock_path)
    return s


def test_malformed_requests_get_errors_and_hv_keeps_running(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"), "--guest", guest("demo.elf"), "--autostart-guest")
    cases = [
        (frame(b"{not json"), "EINVAL", "invalid JSON"),
        (frame(b"[1,2]"), "EINVAL", "not an object"),
        (frame({"nop": 1}), "EINVAL", "missing string field \"op\""),
        (frame({"op": "fly"}), "ENOSYS", "unknown operation"),
        (frame({"op": "pause"}), "EINVAL", "field \"vm\""),
        (frame({"op": "pause", "vm": 7}), "EINVAL", "field \"vm\""),
        (frame({"op": "pause", "vm": "ghost"}), "ENOENT", "no VM named"),
        (frame({"op": "switch", "target": "ghost"}), "ENOENT", "no VM named"),
        (frame({"op": "console.read", "vm": "guest", "offset": -5}), "EINVAL", "non-negative"),
        (frame({"op": "status"}, kind=2), "EINVAL", "expected a request"),
    ]
    s = connect(hv)
    for raw, code, text in cases:
        s.sendall(raw)
        resp, _ = read_response(s)
        assert resp["ok"] is False and resp["code"] == code and text in resp["error"], (raw, resp)
    # the same connection still works after all of that
    s.sendall(frame({"op": "status"}))
    assert read_response(s)[0]["ok"] is True


def test_bad_frames_are_answered_then_closed(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"))
    for raw, text in [
        (struct.pack("<IHHII", 0xDEADBEEF, 1, 1, 2, 0) + b"{}", "bad magic"),
        (struct.pack("<IHHII", MAGIC, 9, 1, 2, 0) + b"{}", "version 9"),
        (struct.pack("<IHHII", MAGIC, 1, 1, 10 << 20, 0), "JSON length"),
        (struct.pack("<IHHII", MAGIC, 1, 1, 2, 1 << 30), "data length"),
        (struct.pack("<IHHII", MAGIC, 1, 1, 0, 0), "JSON length 0"),
    ]:
        s = connect(hv)
        s.sendall(raw)
        resp, _ = read_response(s)
        assert resp["ok"] is False and resp["code"] == "EPROTO" and text in resp["error"], resp
        assert s.recv(1) == b""  # closed after the answer
    assert hv.status()["ok"]


def test_garbage_and_abrupt_disconnects_do_not_hurt(start_hv):
    hv = start_hv("--service", guest("service-stub.elf"))
    for blob in [b"\x00" * 3, b"GET / HTTP/1.0\r\n\r\n", bytes(range(256)) * 4,
                 HEADER.pack(MAGIC, 1, 1, 1000, 0) + b"{"]:
        s = connect(hv)
        s.sendall(blob)
        s.close()
    many = [connect(hv) for _ in range(20)]
    for s in many:
        s.sendall(frame({"op": "hello"}))
    for s in many:
        resp, _ = read_response(s)
        assert resp["ok"] and resp["protocol"] == 1
        s.close()
    st = hv.status()
    assert st["ok"] and json.dumps(st)
