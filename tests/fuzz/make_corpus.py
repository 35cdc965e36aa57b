#!/usr/bin/python3
"""make_corpus.py: writes the seed inputs of fuzz_virtqueue (layout in tests/fuzz/fuzz_virtqueue.c)."""
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "virtqueue"

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
# Queue areas for 16 entries, and the RX queue's, low in RAM so that seeds stay small.
TXQ = (0x000, 0x100, 0x140)
RXQ = (0x200, 0x300, 0x340)


class Ram:
    def __init__(self, size=0x1000):
        self.b = bytearray(size)

    def put(self, addr, fmt, *vals):
        struct.pack_into("<" + fmt, self.b, addr, *vals)

    def desc(self, table, i, addr, length, flags=0, nxt=0):
        self.put(table + 16 * i, "QIHH", addr, length, flags, nxt)

    def avail(self, q, heads, start=0):
        for k, head in enumerate(heads):
            self.put(q[1] + 4 + 2 * ((start + k) % 16), "H", head)
        self.put(q[1] + 2, "H", (start + len(heads)) & 0xFFFF)


def header(flags, q=TXQ, start=0, rxq=RXQ, rx_len=0, ops=()):
    h = bytearray(64)
    h[0] = 4  # 16 entries
    h[1] = flags
    struct.pack_into("<HHHH", h, 2, *q, start)
    struct.pack_into("<HHHH", h, 10, *rxq, rx_len)
    h[18] = len(ops)
    for i, (off, val) in enumerate(ops):
        struct.pack_into("<HI", h, 22 + 6 * i, off, val)
    return bytes(h)


def seeds():
    r = Ram()
    r.desc(TXQ[0], 3, 0x400, 12, F_NEXT, 7)
    r.desc(TXQ[0], 7, 0x500, 50, F_NEXT, 1)
    r.desc(TXQ[0], 1, 0x600, 100, F_WRITE)
    r.desc(TXQ[0], 5, 0x700, 30)
    r.avail(TXQ, [3, 5])
    yield "queue-basic", header(0) + r.b

    r = Ram()
    r.desc(TXQ[0], 0, 0x400, 8, F_NEXT, 1)
    r.desc(TXQ[0], 1, 0x800, 48, F_INDIRECT)
    r.desc(0x800, 0, 0x500, 20, F_NEXT, 2)
    r.desc(0x800, 2, 0x600, 20, F_NEXT | F_WRITE, 1)
    r.desc(0x800, 1, 0x700, 20, F_WRITE)
    r.avail(TXQ, [0])
    yield "queue-indirect-event-idx", header(3) + r.b

    r = Ram()
    r.desc(TXQ[0], 2, 0x400, 64, F_WRITE)
    r.avail(TXQ, [2], start=0xFFFF)
    yield "queue-index-wrap", header(0, start=0xFFFF) + r.b

    r = Ram()
    r.desc(TXQ[0], 0, 0x800, 32, F_INDIRECT)
    r.desc(0x800, 0, 0x400, 8, F_NEXT, 1)
    r.desc(0x800, 1, 0x400, 8, F_NEXT, 0)
    r.avail(TXQ, [0])
    yield "queue-indirect-loop", header(2) + r.b

    # 128 entries: a chain through all of them, more segments than the 64 the target takes.
    big = (0x000, 0x800, 0xA00)
    r = Ram(0x1000)
    for i in range(128):
        r.desc(big[0], i, 0x400 + i, 1, F_NEXT if i < 127 else 0, i + 1)
    r.put(big[1] + 4, "H", 0)
    r.put(big[1] + 2, "H", 1)
    h = bytearray(header(0, q=big))
    h[0] = 7
    yield "queue-long-chain", bytes(h) + r.b

    notify_tx, ack, read_status = (0x050, 1), (0x064, 3), (0xA070, 0)
    r = Ram()
    r.desc(TXQ[0], 0, 0x400, 12, F_NEXT, 1)
    r.desc(TXQ[0], 1, 0x410, 60)
    r.avail(TXQ, [0])
    r.desc(RXQ[0], 0, 0x800, 2048, F_WRITE)
    r.avail(RXQ, [0])
    yield "net-tx-rx", header(4 | 1 | 2, rx_len=60, ops=[notify_tx, ack, read_status]) + r.b

    r = Ram()
    r.desc(TXQ[0], 0, 0x400, 8)
    r.avail(TXQ, [0])
    r.desc(RXQ[0], 0, 0x800, 12, F_WRITE | F_NEXT, 1)
    r.desc(RXQ[0], 1, 0x810, 1600, F_WRITE)
    r.avail(RXQ, [0])
    reset, ack_drv = (0x070, 0), (0x070, 3)
    yield "net-mtu-short-tx", header(4 | 8, rx_len=1518, ops=[reset, ack_drv, notify_tx]) + r.b


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in seeds():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
