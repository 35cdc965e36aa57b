"""test_hotkey.py: the local terminal's Ctrl-A hotkeys switch VMs, under a real pseudo-terminal."""
import os
import pty
import time

from vigil import guest, Hv


def test_hotkey_switches_and_helps(tmp_path):
    master, slave = pty.openpty()
    hv = Hv(tmp_path, ["--service", guest("service-stub.elf"), "--guest", guest("demo.elf"),
                       "--autostart-guest"], stdin=slave)
    try:
        hv.wait_console("guest", "demo>")
        assert hv.status()["foreground"] == "guest"
        os.write(master, b"\x01s")
        hv.wait_for(lambda: hv.status()["foreground"] == "service", what="Ctrl-A s")
        assert hv.vm("guest")["state"] == "frozen"
        os.write(master, b"\x01s")
        hv.wait_for(lambda: hv.status()["foreground"] == "guest", what="second Ctrl-A s")
        os.write(master, b"\x01h")
        hv.wait_for(lambda: "hotkeys (Ctrl-A" in hv.output(), what="help text")
        # ordinary keys go to the foreground VM
        os.write(master, b"status\r")
        hv.wait_console("guest", "demo: heartbeats")
        os.write(master, b"\x01x")
        hv.proc.wait(5)
        assert hv.proc.returncode == 0
    finally:
        hv.stop()
        os.close(master)
        os.close(slave)
