"""wsclient.py: a small RFC 6455 client over TLS for the console tests: full control of the frames
it sends (unmasked, oversized, fragmented) and a view of every frame it receives."""
import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10


class WsClient:
    """One WebSocket connection to the agent. status/headers are the handshake's answer; when it is
    not 101, body holds the error and no frames flow."""

    def __init__(self, port, path, protocols=(), headers=(), rcvbuf=None, timeout=10):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # a viewer with a small window: a stalled one fills up sooner
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect(("127.0.0.1", port))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(raw)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {self.key}", "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        lines += list(headers)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {self.buf!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        first, *rest = head.decode(errors="replace").split("\r\n")
        self.status = int(first.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in rest if ":" in l)}
        self.body = None
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            self.body = json.loads(self.buf[:n]) if n else None
            self.sock.close()
            return
        expect = base64.b64encode(hashlib.sha1(self.key.encode() + GUID).digest()).decode()
        assert self.headers["sec-websocket-accept"] == expect, self.headers
        self.closed = None  # (code, reason) once the server's close frame came

    def send_frame(self, op, payload=b"", fin=True, mask=True, rsv=0):
        if isinstance(payload, str):
            payload = payload.encode()
        head = bytes([(0x80 if fin else 0) | rsv << 4 | op])
        n = len(payload)
        m = 0x80 if mask else 0
        if n < 126:
            head += bytes([m | n])
        elif n < 65536:
            head += bytes([m | 126]) + struct.pack(">H", n)
        else:
            head += bytes([m | 127]) + struct.pack(">Q", n)
        if mask:
            key = os.urandom(4)
            head += key
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + payload)

    def send(self, data):
        self.send_frame(TEXT if isinstance(data, str) else BINARY, data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the agent closed the connection")
            self.buf += chunk

    def recv_frame(self, timeout=10):
        """(opcode, payload) of the next frame; the server's frames are never masked."""
        self.sock.settimeout(timeout)
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame was masked"
        n, h = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, h = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, h = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(h + n)
        payload, self.buf = self.buf[h:h + n], self.buf[h + n:]
        op = b0 & 0x0F
        if op == CLOSE:
            code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.closed = (code, payload[2:].decode(errors="replace"))
        return op, payload

    def read(self, until, timeout=10):
        """Reads frames until until(console_bytes, notices) is true or a close frame comes; returns
        (console bytes, notices)."""
        data, notices = b"", []
        deadline = time.time() + timeout
        while not until(data, notices):
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"timed out; got {data[-300:]!r} and {notices}")
            op, payload = self.recv_frame(left)
            if op == BINARY:
                data += payload
            elif op == TEXT:
                notices.append(json.loads(payload))
            elif op == CLOSE:
                break
        return data, notices

    def wait_close(self, timeout=10):
        """Reads until the server's close frame; returns (code, reason)."""
        deadline = time.time() + timeout
        while self.closed is None:
            self.recv_frame(max(0.01, deadline - time.time()))
        return self.closed

    def close(self, code=1000):
        try:
            if self.closed is None:
                self.send_frame(CLOSE, struct.pack(">H", code))
                self.wait_close(5)
        except (OSError, ConnectionError, AssertionError):
            pass
        self.sock.close()
